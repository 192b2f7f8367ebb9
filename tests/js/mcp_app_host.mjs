// A minimal MCP Apps host for tests/mcp/test_mcp_app.py, on the ext-apps SDK's own host side
// (AppBridge, PostMessageTransport), bundled for the browser by esbuild. Each app runs in a
// sandboxed iframe (scripts only, an opaque origin), as hosts run them; every message each way
// is recorded for the test to check against the extension's published schema.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const apps = {};
window.apps = apps;

/** Load `html` as app `id` and resolve once it sent ui/notifications/initialized. */
window.mountApp = async (id, html) => {
  const iframe = document.createElement("iframe");
  iframe.id = id;
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.style.width = "640px";
  iframe.style.height = "200px";
  iframe.style.border = "0";
  const record = { fromApp: [], toApp: [], sizes: [], initialized: false };
  apps[id] = record;
  window.addEventListener("message", (event) => {
    if (event.source === iframe.contentWindow) record.fromApp.push(event.data);
  });
  document.body.append(iframe);
  const bridge = new AppBridge(
    null,
    { name: "geo-agent-test-host", version: "1.0.0" },
    { openLinks: {}, logging: {} },
    { hostContext: { theme: "light", displayMode: "inline", availableDisplayModes: ["inline"],
      locale: "zh-CN", platform: "web", containerDimensions: { width: 640, maxHeight: 800 } } },
  );
  record.bridge = bridge;
  const initialized = new Promise((resolve) => { bridge.oninitialized = resolve; });
  bridge.onsizechange = ({ height }) => {
    record.sizes.push(height);
    if (height) iframe.style.height = `${height}px`;
  };
  const transport = new PostMessageTransport(iframe.contentWindow, iframe.contentWindow);
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    record.toApp.push(JSON.parse(JSON.stringify(message)));
    return send(message, options);
  };
  await bridge.connect(transport);
  iframe.srcdoc = html; // after the bridge listens: the app's first message is ui/initialize
  await initialized;
  record.initialized = true;
  return { appInfo: bridge.getAppVersion(), appCapabilities: bridge.getAppCapabilities() };
};

/** What a host sends once the tool ran: its arguments, then its result. */
window.sendTool = async (id, args, result) => {
  const { bridge } = apps[id];
  await bridge.sendToolInput({ arguments: args });
  await bridge.sendToolResult(result);
};

/** Messages without the bridge (for the test to read). */
window.messages = (id) => ({ fromApp: apps[id].fromApp, toApp: apps[id].toApp, sizes: apps[id].sizes });
