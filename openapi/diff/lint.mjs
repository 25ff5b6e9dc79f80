// Lints an OpenAPI document with Redocly's recommended rules (redocly.yaml beside this file; the
// findings accepted on purpose, with their reasons, in .redocly.lint-ignore.yaml). Prints every
// other problem and exits 1 if there is any, warnings included.
import { lint, loadConfig } from "@redocly/openapi-core";
import { fileURLToPath } from "node:url";
import path from "node:path";

const [document] = process.argv.slice(2);
if (!document) {
  console.error("usage: node lint.mjs <openapi.json>");
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const config = await loadConfig({ configPath: path.join(here, "redocly.yaml") });
const problems = (await lint({ ref: document, config })).filter((problem) => !problem.ignored);
for (const problem of problems) {
  const where = problem.location?.[0]?.pointer ?? "";
  console.log(`${problem.severity} ${problem.ruleId}: ${problem.message} ${where}`);
}
console.log(`lint: Redocly (recommended) found ${problems.length} problem(s) in ${document}`);
process.exit(problems.length === 0 ? 0 : 1);
