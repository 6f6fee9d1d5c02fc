// The check's own check: a copy of the document with one value renamed in every `enum` that
// holds it, as if the server had renamed a status or renumbered an error code. Types generated
// from the copy must fail the script's type check (scripts/client-check). A number stays a number.
import { mutate } from "./mutate.mjs";

mutate("rename-enum-value", "VALUE NEW_VALUE", "enum holds", (node, from, to) => {
  if (!Array.isArray(node.enum) || !node.enum.some((value) => String(value) === from)) return false;
  node.enum = node.enum.map((value) =>
    String(value) === from ? (typeof value === "number" ? Number(to) : to) : value,
  );
  return true;
});
