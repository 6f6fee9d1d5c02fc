// What the check's own checks share: read the document named on the command line, let `edit`
// change every object of it that it should (returning whether it did), and write the copy.
// Exits 2 on bad arguments and 1 when nothing was changed, so a self-check cannot pass idly.
import { readFileSync, writeFileSync } from "node:fs";

export function mutate(tool, usage, what, edit) {
  const [input, output, from, to] = process.argv.slice(2);
  if (!input || !output || !from || !to) {
    console.error(`usage: node tools/${tool}.mjs IN.json OUT.json ${usage}`);
    process.exit(2);
  }
  let changed = 0;
  const visit = (node) => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (node === null || typeof node !== "object") return;
    if (edit(node, from, to)) changed += 1;
    Object.values(node).forEach(visit);
  };
  const document = JSON.parse(readFileSync(input, "utf8"));
  visit(document);
  if (changed === 0) {
    console.error(`${tool}: no ${what} ${from}`);
    process.exit(1);
  }
  console.log(`renamed ${from} to ${to} in ${changed} place(s)`);
  writeFileSync(output, JSON.stringify(document, null, 2) + "\n");
}
