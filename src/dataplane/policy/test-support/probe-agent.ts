// A tiny server-and-prober that runs inside each workload namespace (plain
// JavaScript, started with `ip netns exec NS node FILE`): it serves TCP and
// UDP (echo) on the given ports, and probes on request. Requests and answers
// are JSON lines on stdin/stdout:
//   {"id":1,"proto":"tcp","host":"10.77.2.2","port":80,"timeoutMs":600,"localAddress":"…"}
//   -> {"id":1,"ok":true,"ms":1.2}
// ICMP probes run `ping -c 1` (the namespace is inherited).

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const SOURCE = String.raw`
const net = require('node:net');
const dgram = require('node:dgram');
const { execFile } = require('node:child_process');
const readline = require('node:readline');
const ports = process.argv.slice(2).map(Number);
let listening = 0;
const ready = () => { if (++listening === ports.length * 2) process.stdout.write(JSON.stringify({ ready: true }) + '\n'); };
for (const port of ports) {
  const tcp = net.createServer((s) => { s.on('error', () => {}); s.end('ok'); });
  // Dual stack: IPv4 arrives as IPv4-mapped addresses on the same sockets.
  tcp.listen(port, '::', ready);
  const udp = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
  udp.bind(port, '::', ready);
}
const answer = (id, ok, t0) => process.stdout.write(JSON.stringify({ id, ok, ms: Date.now() - t0 }) + '\n');
function probe(r) {
  const t0 = Date.now();
  let done = false;
  const finish = (ok, cleanup) => { if (done) return; done = true; clearTimeout(timer); try { cleanup && cleanup(); } catch {} answer(r.id, ok, t0); };
  let timer;
  if (r.proto === 'tcp') {
    const opts = { host: r.host, port: r.port };
    if (r.localAddress) opts.localAddress = r.localAddress;
    const s = net.connect(opts);
    timer = setTimeout(() => finish(false, () => s.destroy()), r.timeoutMs);
    s.on('connect', () => finish(true, () => s.destroy()));
    s.on('error', () => finish(false, () => s.destroy()));
  } else if (r.proto === 'udp') {
    const s = dgram.createSocket(r.host.includes(':') ? 'udp6' : 'udp4');
    timer = setTimeout(() => finish(false, () => s.close()), r.timeoutMs);
    s.on('message', () => finish(true, () => s.close()));
    s.on('error', () => finish(false, () => s.close()));
    const send = () => s.send('probe', r.port, r.host, (err) => { if (err) finish(false, () => s.close()); });
    if (r.localAddress) s.bind(0, r.localAddress, send); else send();
  } else {
    const secs = Math.max(1, Math.ceil(r.timeoutMs / 1000));
    timer = setTimeout(() => {}, r.timeoutMs + 2000);
    execFile('ping', ['-n', '-q', '-c', '1', '-W', String(secs), r.host], (err) => finish(!err));
  }
}
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  try { probe(JSON.parse(line)); } catch (e) { process.stderr.write(String(e) + '\n'); }
});
process.stdin.on('end', () => process.exit(0));
`;

export interface ProbeRequest {
  proto: 'tcp' | 'udp' | 'icmp';
  host: string;
  port?: number;
  timeoutMs: number;
  localAddress?: string;
}

/** One agent process in one namespace. */
export class ProbeAgent {
  private readonly child: ChildProcessWithoutNullStreams;
  private seq = 0;
  private readonly waiting = new Map<number, (ok: boolean) => void>();
  readonly ready: Promise<void>;

  constructor(
    readonly netns: string,
    file: string,
    ports: readonly number[],
  ) {
    this.child = spawn(
      'ip',
      ['netns', 'exec', netns, process.execPath, file, ...ports.map(String)],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    this.child.stderr.on('data', (d) => (stderr += String(d)));
    let markReady: () => void;
    let fail: (e: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      fail = reject;
    });
    this.child.on('exit', (code) => {
      fail(new Error(`probe agent in ${netns} exited (${code}): ${stderr.trim()}`));
      for (const done of this.waiting.values()) done(false);
      this.waiting.clear();
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { ready?: boolean; id?: number; ok?: boolean };
      if (msg.ready) markReady();
      else if (msg.id !== undefined) {
        const done = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        done?.(msg.ok === true);
      }
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  probe(r: ProbeRequest): Promise<boolean> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ id, ...r })}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}

/** Writes the agent's script into `dir` and returns its path. */
export function writeProbeAgent(dir: string): string {
  const file = join(dir, 'probe-agent.cjs');
  writeFileSync(file, SOURCE);
  return file;
}

/** Runs promises from a list with at most `limit` in flight. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
