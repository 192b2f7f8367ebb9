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

// The chat's Markdown (js/markdown.js): marked renders, DOMPurify sanitises; ES modules as shipped.
// The links' QR codes (js/links.js): qrcode-generator, drawn on a canvas in the page.
const MIT = `Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`;
const modules = [
  // [npm package, target folder, files to copy (from the package root), licence text or null]
  ["marked", "marked", ["lib/marked.esm.js", "LICENSE"], null],
  ["dompurify", "dompurify", ["dist/purify.es.mjs", "LICENSE", "LICENSE-MPL"], null],
  // Its npm package ships no licence file: the notice of its repository's LICENSE and the MIT
  // licence that notice names.
  ["qrcode-generator", "qrcode-generator", ["dist/qrcode.mjs"],
    "Copyright (c) 2009 Kazuhiko Arase\n\nURL: http://www.d-project.com/\n\nLicensed under the MIT "
    + "license:\n  http://www.opensource.org/licenses/mit-license.php\n\nThe word \"QR Code\" is "
    + "registered trademark of\nDENSO WAVE INCORPORATED\n  "
    + "http://www.denso-wave.com/qrcode/faqpatent-e.html\n\n---\n\nMIT License\n\n" + MIT],
];
for (const [pkg, folder, files, licence] of modules) {
  const from = join(here, "node_modules", pkg);
  const to = join(here, "..", "agent", "server", "web", "vendor", folder);
  const v = JSON.parse(readFileSync(join(from, "package.json"), "utf8")).version;
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  for (const file of files) cpSync(join(from, file), join(to, file.split("/").pop()));
  if (licence) writeFileSync(join(to, "LICENSE"), licence);
  writeFileSync(join(to, "VERSION"), `${pkg} ${v} (npm), copied by web/vendor.mjs\n`);
  console.log(`vendored ${pkg} ${v} into ${to}`);
}
