// The check's own check: a copy of the document with one property renamed wherever a schema
// declares it (its `required` entry too), as if the server had renamed the field. Types generated
// from the copy must fail the script's type check (scripts/client-check).
import { readFileSync, writeFileSync } from "node:fs";

const [input, output, from, to] = process.argv.slice(2);
if (!input || !output || !from || !to) {
  console.error("usage: node tools/rename-field.mjs IN.json OUT.json FIELD NEW_NAME");
  process.exit(2);
}
let renamed = 0;
function visit(node) {
  if (Array.isArray(node)) {
    node.forEach(visit);
    return;
  }
  if (node === null || typeof node !== "object") return;
  const properties = node.properties;
  if (properties && typeof properties === "object" && !Array.isArray(properties) && from in properties) {
    node.properties = Object.fromEntries(
      Object.entries(properties).map(([name, schema]) => [name === from ? to : name, schema]),
    );
    if (Array.isArray(node.required)) node.required = node.required.map((name) => (name === from ? to : name));
    renamed += 1;
  }
  Object.values(node).forEach(visit);
}
const document = JSON.parse(readFileSync(input, "utf8"));
visit(document);
if (renamed === 0) {
  console.error(`rename-field: no schema has a property ${from}`);
  process.exit(1);
}
console.log(`renamed ${from} to ${to} in ${renamed} schema(s)`);
writeFileSync(output, JSON.stringify(document, null, 2) + "\n");
