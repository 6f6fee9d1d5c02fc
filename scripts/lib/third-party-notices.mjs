// Writes the licence notices of every package installed under a node_modules folder (the
// packages a bundle was built from), sorted by name and version, to standard output.
//   node scripts/lib/third-party-notices.mjs <node_modules> <title>
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [root, title] = process.argv.slice(2);
const found = new Map();

function visit(folder) {
  if (!existsSync(folder)) return;
  for (const entry of readdirSync(folder)) {
    if (entry.startsWith('.')) continue;
    const path = join(folder, entry);
    if (!statSync(path).isDirectory()) continue;
    if (entry.startsWith('@')) {
      visit(path);
      continue;
    }
    const manifest = join(path, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
      const licence = typeof pkg.license === 'string' ? pkg.license : JSON.stringify(pkg.license ?? pkg.licenses ?? 'UNKNOWN');
      const file = readdirSync(path).find((name) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(name));
      const text = file ? readFileSync(join(path, file), 'utf8').trim() : '';
      found.set(`${pkg.name}@${pkg.version}`, { licence, text });
    }
    visit(join(path, 'node_modules'));
  }
}

visit(root);
const names = [...found.keys()].sort();
const out = [
  `${title}`,
  '',
  `The bundle includes code of these ${names.length} packages (as installed from the npm registry with it).`,
  '',
];
for (const name of names) {
  const { licence, text } = found.get(name);
  out.push('-'.repeat(78), `${name} (${licence})`, '');
  if (text) out.push(text, '');
}
process.stdout.write(out.join('\n') + '\n');
