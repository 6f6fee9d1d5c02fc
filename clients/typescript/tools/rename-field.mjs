// The check's own check: a copy of the document with one property renamed wherever a schema
// declares it (its `required` entry too), as if the server had renamed the field. Types generated
// from the copy must fail the script's type check (scripts/client-check).
import { mutate } from "./mutate.mjs";

mutate("rename-field", "FIELD NEW_NAME", "schema has a property", (node, from, to) => {
  const properties = node.properties;
  if (!properties || typeof properties !== "object" || Array.isArray(properties) || !(from in properties)) {
    return false;
  }
  node.properties = Object.fromEntries(
    Object.entries(properties).map(([name, schema]) => [name === from ? to : name, schema]),
  );
  if (Array.isArray(node.required)) node.required = node.required.map((name) => (name === from ? to : name));
  return true;
});
