// A Charter server for one test file: the built binary on a fresh SQLite database in a
// temporary folder, on a free loopback port, with the public origin set to that port (so
// passkeys and same-origin checks behave as in production). Nothing of the caller's
// CHARTER_* or DATABASE_URL settings leaks in.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/**
 * Starts the server and waits until /readyz answers 200.
 * @param {{ dev?: boolean, settings?: Record<string, string> }} options
 *   dev: the test clock; settings: extra CHARTER_* variables.
 * @returns {Promise<{ base: string, dir: string, log: () => string, stop: () => Promise<void> }>}
 */
export async function startServer({ dev = false, settings = {} } = {}) {
  const bin = process.env.CHARTER_BIN ?? join(ROOT, 'target', 'debug', 'charter');
  const dir = mkdtempSync(join(tmpdir(), 'charter-browser-'));
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith('CHARTER_') && k !== 'DATABASE_URL' && k !== 'RUST_LOG',
    ),
  );
  Object.assign(env, {
    CHARTER_BIND: `127.0.0.1:${port}`,
    CHARTER_PUBLIC_ORIGIN: base,
    CHARTER_RP_ID: 'localhost',
    CHARTER_DATABASE_URL: `sqlite://${join(dir, 'charter.db')}`,
    CHARTER_SECRET_KEY_FILE: join(dir, 'secret.key'),
    CHARTER_MAIL: `file:${join(dir, 'outbox.jsonl')}`,
    ...(dev ? { CHARTER_DEV: '1' } : {}),
    ...settings,
  });
  const logPath = join(dir, 'server.log');
  const out = openSync(logPath, 'a');
  const child = spawn(bin, ['serve'], { env, stdio: ['ignore', out, out] });
  const exited = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));
  const log = () => readFileSync(logPath, 'utf8');

  // Readiness, not a fixed wait: /readyz answers once migrations are applied.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${bin} exited with ${child.exitCode} before it was ready:\n${log()}`);
    }
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${bin} was not ready within 60 s:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    base,
    dir,
    log,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
