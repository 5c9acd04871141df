// The wire format between a thin CNI client and the agent-side server, on a
// unix socket, one request per connection. Simple enough for a C client:
//
//   request   "TCNI1 <plugin>\0" ("tortie" | "tortie-ipam")
//             "NAME=VALUE\0" for each forwarded variable (CNI_*, TORTIE_*)
//             "\0"
//             the network configuration, raw, until the client shuts down
//             its write side
//   response  "<exit code> <stdout bytes>\n" <stdout> <stderr>, then close
//
// Nothing is escaped: names and values cannot contain NUL.

export const PROTOCOL_MAGIC = 'TCNI1';
export type PluginName = 'tortie' | 'tortie-ipam';

export interface CniRequest {
  plugin: PluginName;
  env: Record<string, string>;
  stdin: string;
}

export interface CniReply {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The variables a client forwards. */
export function forwardedEnv(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (k.startsWith('CNI_') || k.startsWith('TORTIE_'))) out[k] = v;
  }
  return out;
}

export function encodeRequest(req: CniRequest): Buffer {
  const parts = [`${PROTOCOL_MAGIC} ${req.plugin}\0`];
  for (const [k, v] of Object.entries(req.env)) {
    if (k.includes('\0') || v.includes('\0') || k.includes('=')) continue;
    parts.push(`${k}=${v}\0`);
  }
  parts.push('\0');
  return Buffer.concat([Buffer.from(parts.join(''), 'utf8'), Buffer.from(req.stdin, 'utf8')]);
}

export function decodeRequest(buf: Buffer): CniRequest {
  let pos = 0;
  const next = (): string => {
    const end = buf.indexOf(0, pos);
    if (end < 0) throw new Error('truncated request');
    const s = buf.subarray(pos, end).toString('utf8');
    pos = end + 1;
    return s;
  };
  const head = next();
  const m = /^TCNI1 (tortie|tortie-ipam)$/.exec(head);
  if (!m) throw new Error(`bad request header ${JSON.stringify(head.slice(0, 40))}`);
  const env: Record<string, string> = {};
  for (;;) {
    const entry = next();
    if (entry === '') break;
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { plugin: m[1] as PluginName, env, stdin: buf.subarray(pos).toString('utf8') };
}

export function encodeReply(r: CniReply): Buffer {
  const out = Buffer.from(r.stdout, 'utf8');
  return Buffer.concat([
    Buffer.from(`${r.exitCode} ${out.length}\n`),
    out,
    Buffer.from(r.stderr, 'utf8'),
  ]);
}

export function decodeReply(buf: Buffer): CniReply {
  const nl = buf.indexOf(10);
  if (nl < 0) throw new Error('truncated reply');
  const m = /^(\d+) (\d+)$/.exec(buf.subarray(0, nl).toString('latin1'));
  if (!m) throw new Error('bad reply header');
  const len = Number(m[2]);
  const body = buf.subarray(nl + 1);
  if (body.length < len) throw new Error('truncated reply');
  return {
    exitCode: Number(m[1]),
    stdout: body.subarray(0, len).toString('utf8'),
    stderr: body.subarray(len).toString('utf8'),
  };
}
