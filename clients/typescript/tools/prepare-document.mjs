// Copies the fetched OpenAPI document for the generator.
//
// Stopgap until the rewritten document lands: today's operationIds repeat (`create` ×11, …), and
// openapi-typescript keys its `operations` interface by operationId, so a repeated id makes
// TS2300 "Duplicate identifier" and points every path that shares it at one operation's types.
// A repeated id is dropped here (its operation is then typed inline under its path, which is all
// openapi-fetch needs); each one is listed so that the warning is seen.
import { readFileSync, writeFileSync } from "node:fs";

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node tools/prepare-document.mjs IN.json OUT.json");
  process.exit(2);
}
const document = JSON.parse(readFileSync(input, "utf8"));
const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const operations = Object.values(document.paths ?? {}).flatMap((item) =>
  methods.filter((method) => item[method]).map((method) => item[method]),
);
const uses = new Map();
for (const operation of operations) {
  if (operation.operationId) uses.set(operation.operationId, (uses.get(operation.operationId) ?? 0) + 1);
}
const repeated = [...uses].filter(([, count]) => count > 1);
for (const operation of operations) {
  if ((uses.get(operation.operationId) ?? 0) > 1) delete operation.operationId;
}
if (repeated.length > 0) {
  const list = repeated.map(([id, count]) => `${id} ×${count}`).join(", ");
  console.warn(`warning: repeated operationIds dropped for the generator: ${list}`);
}
writeFileSync(output, JSON.stringify(document, null, 2) + "\n");
