// Copy the pinned npm packages' browser files into the Python package (agent/server/web/vendor/).
// Run from this directory: npm ci && npm run vendor. The output is committed; the page needs no build.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "agent", "server", "web", "vendor", "leaflet");
const source = join(here, "node_modules", "leaflet");
const { version } = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));

rmSync(target, { recursive: true, force: true });
mkdirSync(join(target, "images"), { recursive: true });
for (const file of ["leaflet.js", "leaflet.css"]) cpSync(join(source, "dist", file), join(target, file));
cpSync(join(source, "dist", "images"), join(target, "images"), { recursive: true });
cpSync(join(source, "LICENSE"), join(target, "LICENSE"));
writeFileSync(join(target, "VERSION"), `leaflet ${version} (npm), copied by web/vendor.mjs\n`);
console.log(`vendored leaflet ${version} into ${target}`);

// Swagger UI for /docs (agent/server/docs.py): its bundle, its styles and its licence.
const swaggerTarget = join(here, "..", "agent", "server", "web", "vendor", "swagger-ui");
const swaggerSource = join(here, "node_modules", "swagger-ui-dist");
const swagger = JSON.parse(readFileSync(join(swaggerSource, "package.json"), "utf8")).version;
rmSync(swaggerTarget, { recursive: true, force: true });
mkdirSync(swaggerTarget, { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]) {
  cpSync(join(swaggerSource, file), join(swaggerTarget, file));
}
writeFileSync(join(swaggerTarget, "VERSION"),
  `swagger-ui-dist ${swagger} (npm), copied by web/vendor.mjs\n`);
console.log(`vendored swagger-ui-dist ${swagger} into ${swaggerTarget}`);
