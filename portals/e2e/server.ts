// Starts `apim all-in-one` in a fresh directory on a free port offset, as crates/apim-bin/tests/it does, and
// waits until it is ready. Its management HTTPS URL goes to the tests as APIM_BASE; the node stops afterwards.
// A test may start nodes of its own: another all-in-one, or one beside a traffic manager process.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The all-in-one's ports, and a traffic manager's usage ports (9611, 9711) and decision port (5672).
const BASE_PORTS = [9443, 9763, 8280, 8243, 9099, 8099, 9611, 9711, 5672];

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
  const dir = mkdtempSync(join(tmpdir(), 'apim-portals-e2e-'));
  const offset = await freeOffset();
  const node = await startProcess(['all-in-one', `-DportOffset=${offset}`, '--bind', '127.0.0.1'], dir);
  return {
    ...node,
    stop: async () => {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An all-in-one node whose gateway counts usage with a traffic manager of its own process, as the seeds' distributed
 * deployment does: `aio` and `tm` in one directory, the traffic manager with the all-in-one's certificate. */
export async function startWithTrafficManager(): Promise<{ aio: StartedNode; tm: StartedNode; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'apim-portals-e2e-tm-'));
  const [aioOffset, tmOffset] = [await freeOffset(), await freeOffset()];
  const header = (offset: number) =>
    `[server]\nhostname = "localhost"\noffset = ${offset}\n[super_admin]\nusername = "admin"\npassword = "admin"\ncreate_admin_account = true\n`;
  mkdirSync(join(dir, 'cp'), { recursive: true });
  writeFileSync(
    join(dir, 'cp.toml'),
    `${header(aioOffset)}[database.apim_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:cp/apim.db"\n[database.shared_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:cp/shared.db"\n` +
      `[apim.event_hub]\nenable = true\nusername = "admin"\npassword = "admin"\n` +
      `[apim.throttling]\nthrottle_decision_endpoints = ["tcp://localhost:${5672 + tmOffset}"]\n` +
      `[[apim.throttling.url_group]]\ntraffic_manager_urls = ["tcp://localhost:${9611 + tmOffset}"]\n`,
  );
  const aio = await startProcess(['all-in-one', '-c', 'cp.toml', '--data-dir', 'cp', '--bind', '127.0.0.1'], dir);
  try {
    writeFileSync(
      join(dir, 'tm.toml'),
      `${header(tmOffset)}[database.shared_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:tm/shared.db"\n` +
        `[apim.event_hub]\nenable = true\nusername = "admin"\npassword = "admin"\nservice_url = "https://localhost:${9443 + aioOffset}/services/"\n` +
        `event_listening_endpoints = ["tcp://localhost:${5672 + aioOffset}"]\n` +
        `[apim.throttling]\nthrottle_decision_endpoints = ["tcp://localhost:${5672 + tmOffset}"]\n`,
    );
    cpSync(join(dir, 'cp', 'tls'), join(dir, 'tm', 'tls'), { recursive: true });
    const tm = await startProcess(['traffic-manager', '-c', 'tm.toml', '--data-dir', 'tm', '--bind', '127.0.0.1'], dir);
    return {
      aio,
      tm,
      stop: async () => {
        await tm.stop();
        await aio.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await aio.stop();
    throw e;
  }
}

/** `apim <args>` in `dir`, its listeners read from what it prints, once its `/health/ready` answers 200. */
async function startProcess(args: string[], dir: string): Promise<StartedNode> {
  const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
  const bin = process.env.APIM_BIN ?? join(repo, 'target/debug/apim');
  const node = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
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
      throw new Error(`apim did not get ready (${bin} ${args.join(' ')}, exit ${node.exitCode}):\n${log.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    listeners,
    stop: async () => {
      node.kill('SIGTERM');
      await exited;
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
