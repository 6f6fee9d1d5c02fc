// The check's own check: a copy of the document with one value renamed in every `enum` that
// holds it, as if the server had renamed a status or renumbered an error code. Types generated
// from the copy must fail the script's type check (scripts/client-check). A number stays a number.
import { readFileSync, writeFileSync } from "node:fs";

const [input, output, from, to] = process.argv.slice(2);
if (!input || !output || !from || !to) {
  console.error("usage: node tools/rename-enum-value.mjs IN.json OUT.json VALUE NEW_VALUE");
  process.exit(2);
}
let renamed = 0;
function visit(node) {
  if (Array.isArray(node)) {
    node.forEach(visit);
    return;
  }
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node.enum) && node.enum.some((value) => String(value) === from)) {
    node.enum = node.enum.map((value) =>
      String(value) === from ? (typeof value === "number" ? Number(to) : to) : value,
    );
    renamed += 1;
  }
  Object.values(node).forEach(visit);
}
const document = JSON.parse(readFileSync(input, "utf8"));
visit(document);
if (renamed === 0) {
  console.error(`rename-enum-value: no enum holds ${from}`);
  process.exit(1);
}
console.log(`renamed ${from} to ${to} in ${renamed} enum(s)`);
writeFileSync(output, JSON.stringify(document, null, 2) + "\n");
