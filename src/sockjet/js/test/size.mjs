// The size budget: sockjet.js minified (esbuild) and gzipped must stay at or under 6 KB.
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const BUDGET = 6 * 1024;
const source = fileURLToPath(new URL("../sockjet.js", import.meta.url));
const result = await build({ entryPoints: [source], bundle: false, minify: true, format: "esm", write: false });
const minified = result.outputFiles[0].contents;
const gzipped = gzipSync(minified, { level: 9 }).length;
const raw = readFileSync(source).length;
const line = `sockjet.js: ${raw} B source, ${minified.length} B minified, ${gzipped} B minified+gzip (budget ${BUDGET} B)`;
if (gzipped > BUDGET) {
  console.error(`${line}: over budget`);
  process.exit(1);
}
console.log(line);
