// Compare two OpenAPI documents and fail on a change that breaks a client of the first.
//
//   node openapi/diff/breaking.mjs BASELINE CURRENT
//   node openapi/diff/breaking.mjs --accept CHANGELOG.md BASELINE CURRENT
//
// Exit 0: nothing breaks (additions are listed). Exit 1: every breaking change is listed by
// operation. Exit 2: a document could not be read.
//
// With --accept, CURRENT becomes the new BASELINE; if it breaks the old one, only when the
// changelog's newest section has a '### Breaking' heading with at least one entry under it.
//
// api-smart-diff classifies each change by where it sits: a field removed from a response,
// a value removed from an enum, a request field or parameter made required, a type or format
// narrowed, a path, operation or status code gone. Only changes under `paths` are judged:
// there the tool knows whether a schema is read by the client (a response) or written by it
// (a request), which decides whether a change breaks; `components` are reached from there.
// A new value in an enum that a response carries counts as breaking too: generated clients
// with closed enums fail to read it.
import { readFileSync, writeFileSync } from "node:fs";
import { apiCompare } from "api-smart-diff";

function load(path) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    console.error(`contract: cannot read ${path}: ${error.message}`);
    process.exit(2);
  }
}

// The entries under '### Breaking' in the changelog's first '## ' section.
export function breakingEntries(changelog) {
  const section = changelog.split(/^## /m)[1] ?? "";
  const part = section.split(/^### /m).find((block) => /^Breaking\b/.test(block));
  return part ? part.split("\n").filter((line) => /^\s*[-*] \S/.test(line)) : [];
}

const args = process.argv.slice(2);
let changelogPath = null;
if (args[0] === "--accept") {
  changelogPath = args[1];
  args.splice(0, 2);
}
const [baselinePath, currentPath] = args;
if (!baselinePath || !currentPath || changelogPath === undefined) {
  console.error("usage: node breaking.mjs [--accept CHANGELOG.md] BASELINE CURRENT");
  process.exit(2);
}
const baseline = load(baselinePath);
const current = load(currentPath);
const { diffs } = apiCompare(baseline, current);
const judged = diffs.filter((diff) => diff.path[0] === "paths");
const breaking = judged.filter((diff) => diff.type === "breaking");
const added = judged.filter((diff) => diff.type !== "breaking" && diff.action === "add");

function where(diff) {
  const [, path, method, ...rest] = diff.path;
  const operation = method ? `${String(method).toUpperCase()} ${path}` : path;
  return { operation, at: rest.join(".") };
}

const versions = `${baseline.info?.version ?? "?"} -> ${current.info?.version ?? "?"}`;
if (changelogPath) {
  const entries = breakingEntries(readFileSync(changelogPath, "utf8"));
  if (breaking.length > 0 && entries.length === 0) {
    console.error(`contract: ${breaking.length} breaking change(s) and no entry under ` +
      `'### Breaking' in the newest section of ${changelogPath}; the baseline is unchanged`);
    process.exit(1);
  }
  writeFileSync(baselinePath, readFileSync(currentPath));
  console.log(`contract: ${currentPath} is the new baseline (${versions}; ` +
    `${breaking.length} recorded breaking change(s))`);
  process.exit(0);
}
if (breaking.length === 0) {
  console.log(`contract: no breaking change against the baseline (${versions}); ` +
    `${added.length} addition(s)`);
  process.exit(0);
}
const byOperation = new Map();
for (const diff of breaking) {
  const { operation, at } = where(diff);
  // The tool's own wording, where it has one that reads well.
  const text = (diff.description ?? "").replace(/^\[\w+\] /, "");
  const said = /^[a-z].*`/i.test(text) && !text.includes("annotation") ? `: ${text}` : "";
  if (!byOperation.has(operation)) byOperation.set(operation, []);
  byOperation.get(operation).push(`${diff.action} ${at || "the operation"}${said}`);
}
console.error(`contract: ${breaking.length} breaking change(s) against the baseline (${versions})`);
for (const [operation, lines] of byOperation) {
  console.error(`  ${operation}`);
  for (const line of lines) console.error(`    - ${line}`);
}
console.error(
  "contract: v1 changes only by adding. If this break is really intended, record it under a " +
    "'### Breaking' heading in CHANGELOG.md and run `make baseline`.",
);
process.exit(1);
