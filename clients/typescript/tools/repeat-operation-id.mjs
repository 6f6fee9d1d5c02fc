// The check's own check: a copy of the document where one operation takes another's
// operationId. The generator's lint (redocly.yaml) must refuse it (scripts/client-check).
import { readFileSync, writeFileSync } from "node:fs";

const [input, output, from, to] = process.argv.slice(2);
if (!input || !output || !from || !to) {
  console.error("usage: node tools/repeat-operation-id.mjs IN.json OUT.json OPERATION_ID TAKES_ID");
  process.exit(2);
}
const document = JSON.parse(readFileSync(input, "utf8"));
const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const operations = Object.values(document.paths ?? {}).flatMap((item) =>
  methods.filter((method) => item[method]).map((method) => item[method]),
);
const ids = new Set(operations.map((operation) => operation.operationId));
const operation = operations.find((candidate) => candidate.operationId === from);
if (!operation || !ids.has(to)) {
  console.error(`repeat-operation-id: the document needs operations ${from} and ${to}`);
  process.exit(1);
}
operation.operationId = to;
console.log(`operation ${from} now has the operationId ${to}`);
writeFileSync(output, JSON.stringify(document, null, 2) + "\n");
