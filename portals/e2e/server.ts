// Starts `apim all-in-one` in a fresh directory on a free port offset, as crates/apim-bin/tests/it does, and
// waits until it is ready. Its management HTTPS URL goes to the tests as APIM_BASE; the node stops afterwards.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BASE_PORTS = [9443, 9763, 8280, 8243, 9099, 8099];

function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createServer();
    s.once('error', () => ok(false));
    s.listen(port, '0.0.0.0', () => s.close(() => ok(true)));
  });
}

async function freeOffset(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const offset = 10_000 + Math.floor(Math.random() * (32_767 - 10_000 - 9_443));
    const free = await Promise.all(BASE_PORTS.map((p) => portFree(p + offset)));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no free port offset found');
}

/** A running `apim all-in-one` in its own directory: its listeners by name (`management-https`, `gateway-http`…). */
export interface StartedNode {
  listeners: Record<string, string>;
  stop: () => Promise<void>;
}

/** Starts `apim all-in-one` in a fresh directory on a free port offset and waits until it is ready. */
export async function startApim(): Promise<StartedNode> {
  const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
  const bin = process.env.APIM_BIN ?? join(repo, 'target/debug/apim');
  const dir = mkdtempSync(join(tmpdir(), 'apim-portals-e2e-'));
  const offset = await freeOffset();
  const node = spawn(bin, ['all-in-one', `-DportOffset=${offset}`, '--bind', '127.0.0.1'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  node.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const listeners: Record<string, string> = {};
  node.stdout.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      const m = /^listening (\S+) (\S+)/.exec(line);
      if (m?.[1] && m[2]) listeners[m[1]] = m[2];
    }
  });
  const exited = new Promise<number | null>((ok) => node.once('exit', ok));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const http = listeners['management-http'];
    if (http) {
      const ready = await fetch(`${http}/health/ready`).then((r) => r.ok).catch(() => false);
      if (ready) break;
    }
    if (node.exitCode !== null || Date.now() > deadline) {
      node.kill('SIGKILL');
      throw new Error(`apim did not get ready (${bin}, exit ${node.exitCode}):\n${log.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    listeners,
    stop: async () => {
      node.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Playwright's global set-up: the node every test shares, its management URLs in APIM_BASE and APIM_HTTP_BASE. */
export default async function startNode(): Promise<() => Promise<void>> {
  const node = await startApim();
  process.env.APIM_BASE = node.listeners['management-https'];
  process.env.APIM_HTTP_BASE = node.listeners['management-http'];
  return node.stop;
}
