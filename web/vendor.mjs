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
