/**
 * BGP receive benchmark: a BIRD 2 sender exports N IPv4 /24 prefixes
 * (a static protocol generated into its config); in the same run, one after
 * the other, Tortie's speaker, BIRD 2 and GoBGP each receive the full table
 * over an eBGP session.
 *
 * Measured per receiver:
 *   - time from Established to the last prefix in the receiver's Loc-RIB
 *     (Tortie: the runner's own timestamps; BIRD: the protocol's "Since"
 *     time (ms) to the first poll that sees N routes imported; GoBGP: the
 *     first poll that sees Established to the first that sees N
 *     destinations, polls every 20-50 ms);
 *   - resident memory growth (RSS after − before) per route.
 *
 * The sender runs in namespace `tbgp<pid>-send` (10.255.0.1), the receivers
 * in `tbgp<pid>-recv` (.2 Tortie, .3 BIRD, .4 GoBGP), joined by a veth.
 * Needs root, bird, birdc, gobgpd, gobgp.
 *
 *   npm run bench -- bgp [--prefixes N] [--receivers tortie,bird,gobgp]
 *                        [--rounds 3] [--gobgp-rounds 1]
 *
 * Tortie and BIRD run --rounds times, interleaved, GoBGP --gobgp-rounds
 * times (it takes minutes for 1M); the table shows each one's median run.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

import { Bird, GoBgp, waitFor } from '../src/bgp/test-support/daemons.js';
import { NetLab, isRoot } from '../src/bgp/test-support/netns.js';
import { SpeakerProcess } from '../src/bgp/test-support/runner-client.js';

const SENDER = '10.255.0.1';
const ADDR = { tortie: '10.255.0.2', bird: '10.255.0.3', gobgp: '10.255.0.4' } as const;
const AS = { sender: 65100, tortie: 65200, bird: 65201, gobgp: 65202 } as const;
type Receiver = keyof typeof ADDR;

interface Result {
  receiver: Receiver;
  prefixes: number;
  seconds: number;
  rssBefore: number;
  rssAfter: number;
  note: string;
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

function prefixAt(i: number): string {
  return `${16 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.0/24`;
}

function senderConfig(n: number): string {
  const lines: string[] = [
    `router id ${SENDER};`,
    'protocol device { scan time 10; }',
    'protocol static gen {',
    '  ipv4;',
  ];
  for (let i = 0; i < n; i++) lines.push(`  route ${prefixAt(i)} blackhole;`);
  lines.push('}');
  for (const r of Object.keys(ADDR) as Receiver[]) {
    lines.push(
      `protocol bgp to_${r} {`,
      `  local ${SENDER} as ${AS.sender};`,
      `  neighbor ${ADDR[r]} as ${AS[r]};`,
      '  direct;',
      '  passive on;',
      '  hold time 240;',
      '  ipv4 { import none; export all; next hop self; };',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** "HH:MM:SS.mmm" (BIRD's protocol time, local) → epoch ms, today. */
function birdTime(text: string): number {
  const [h, m, s] = text.split(':');
  const d = new Date();
  d.setHours(Number(h), Number(m), 0, 0);
  return d.getTime() + Math.round(Number(s) * 1000);
}

async function runTortie(lab: NetLab, ns: string, n: number): Promise<Result> {
  const sp = await SpeakerProcess.spawn(lab, ns, ['--expose-gc', '--max-old-space-size=4096']);
  await sp.call('start', {
    routerId: ADDR.tortie,
    asn: AS.tortie,
    listen: false,
    holdTime: 240,
    families: ['ipv4'],
  });
  const mem0 = await sp.call<{ rss: number; heapUsed: number }>('memory');
  const before = mem0.rss;
  await sp.call('addPeer', {
    address: SENDER,
    asn: AS.sender,
    localAddress: ADDR.tortie,
    type: 'global',
  });
  const est = await sp.waitState(SENDER, 'Established', 60_000);
  const done = await sp.call<{ at: number; size: number }>('waitRoutes', { count: n });
  const mem1 = await sp.call<{ rss: number; heapUsed: number }>('memory');
  const after = mem1.rss;
  await sp.call('stop', {});
  await new Promise<void>((r) =>
    sp.child.exitCode !== null ? r() : sp.child.once('exit', () => r()),
  );
  return {
    receiver: 'tortie',
    prefixes: done.size,
    seconds: (done.at - est.at) / 1000,
    rssBefore: before,
    rssAfter: after,
    note: `in-process timestamps; RSS after a full GC; live JS heap +${Math.round((mem1.heapUsed - mem0.heapUsed) / done.size)} bytes/route`,
  };
}

async function runBird(lab: NetLab, ns: string, n: number): Promise<Result> {
  const bird = new Bird(
    lab,
    ns,
    'recv-bird',
    `router id ${ADDR.bird};
protocol device { scan time 10; }
protocol bgp recv {
  disabled;
  local ${ADDR.bird} as ${AS.bird};
  neighbor ${SENDER} as ${AS.sender};
  direct;
  hold time 240;
  ipv4 { import all; export none; };
}
`,
  );
  await bird.start();
  const pid = bird.child!.pid!;
  await new Promise((r) => setTimeout(r, 300));
  const before = rssOf(pid);
  bird.birdc('enable', 'recv');
  const since = await waitFor(
    'BIRD receiver Established',
    60_000,
    () => {
      const line = bird
        .birdc('show', 'protocols', 'recv')
        .split('\n')
        .find((l) => l.startsWith('recv '));
      return line !== undefined && /Established/.test(line)
        ? line.trim().split(/\s+/)[4]
        : undefined;
    },
    20,
  );
  const t0 = birdTime(since!);
  let t1 = 0;
  await waitFor(
    'BIRD receiver has every route',
    600_000,
    () => {
      const m = /Routes:\s+(\d+) imported/.exec(bird.birdc('show', 'protocols', 'all', 'recv'));
      if (m && Number(m[1]) >= n) {
        t1 = Date.now();
        return true;
      }
      return undefined;
    },
    20,
  );
  const after = rssOf(pid);
  await bird.stop();
  return {
    receiver: 'bird',
    prefixes: n,
    seconds: (t1 - t0) / 1000,
    rssBefore: before,
    rssAfter: after,
    note: 'Established at BIRD\u2019s own "since" (ms); end by polling every 20 ms',
  };
}

async function runGoBgp(lab: NetLab, ns: string, n: number): Promise<Result> {
  const gobgp = new GoBgp(
    lab,
    ns,
    'recv-gobgp',
    `[global.config]
  as = ${AS.gobgp}
  router-id = "${ADDR.gobgp}"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${SENDER}"
    peer-as = ${AS.sender}
    admin-down = true
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 240
  [neighbors.transport.config]
    local-address = "${ADDR.gobgp}"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`,
    50251,
  );
  await gobgp.start();
  const pid = gobgp.child!.pid!;
  await new Promise((r) => setTimeout(r, 300));
  const before = rssOf(pid);
  gobgp.gobgp('neighbor', SENDER, 'enable');
  await waitFor(
    'GoBGP receiver Established',
    60_000,
    () =>
      /established/i.test(gobgp.neighborState(SENDER)) ||
      gobgp.neighborState(SENDER) === '6' ||
      undefined,
    20,
  );
  const t0 = Date.now();
  let t1 = 0;
  await waitFor(
    'GoBGP receiver has every route',
    900_000,
    () => {
      const m = /Destination:\s+(\d+)/.exec(gobgp.gobgp('global', 'rib', 'summary', '-a', 'ipv4'));
      if (m && Number(m[1]) >= n) {
        t1 = Date.now();
        return true;
      }
      return undefined;
    },
    50,
  );
  const after = rssOf(pid);
  await gobgp.stop();
  return {
    receiver: 'gobgp',
    prefixes: n,
    seconds: (t1 - t0) / 1000,
    rssBefore: before,
    rssAfter: after,
    note: 'Established and end by polling (20 ms / 50 ms)',
  };
}

export async function main(args: string[]): Promise<void> {
  if (!isRoot()) throw new Error('the BGP benchmark needs root (network namespaces)');
  // A closed stdout (| head) must not kill us before the namespaces are gone.
  process.stdout.on('error', () => undefined);
  const arg = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const n = Number(arg('--prefixes') ?? 1_000_000);
  if (!Number.isInteger(n) || n < 1 || n > 1 << 20)
    throw new Error('--prefixes must be 1..1048576');
  const receivers = (arg('--receivers') ?? 'tortie,bird,gobgp').split(',') as Receiver[];
  // The machine is shared: run the fast receivers several times, interleaved, and take the median.
  const rounds = Number(arg('--rounds') ?? 3);
  const gobgpRounds = Number(arg('--gobgp-rounds') ?? 1);
  const load0 = loadavg();

  const lab = new NetLab('tbgp');
  const results: Result[] = [];
  try {
    // The sender in one namespace, the receivers in another, joined by a veth.
    const senderNs = lab.ns('send');
    const ns = lab.ns('recv');
    lab.veth(senderNs, 'vsend', `${SENDER}/24`, ns, 'vrecv', `${ADDR.tortie}/24`);
    for (const a of [ADDR.bird, ADDR.gobgp])
      lab.exec(ns, ['ip', 'addr', 'add', `${a}/24`, 'dev', 'vrecv']);

    console.log(`generating a BIRD sender with ${n.toLocaleString('en')} static /24 routes…`);
    const sender = new Bird(lab, senderNs, 'sender', senderConfig(n));
    const t = Date.now();
    await sender.start();
    await waitFor(
      'the sender to load its routes',
      600_000,
      () => {
        const m = /(\d+) of (\d+) routes/.exec(sender.birdc('show', 'route', 'count'));
        return m && Number(m[1]) >= n ? true : undefined;
      },
      500,
    );
    console.log(`sender ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    const schedule: Receiver[] = [];
    for (let i = 0; i < Math.max(rounds, gobgpRounds); i++) {
      for (const r of receivers) if (i < (r === 'gobgp' ? gobgpRounds : rounds)) schedule.push(r);
    }
    for (const r of schedule) {
      // Let the sender finish with the previous session before the next one starts.
      await waitFor(
        'the sender to settle',
        60_000,
        () =>
          sender
            .birdc('show', 'protocols')
            .split('\n')
            .every((l) => !/^to_\w+\s+BGP\s+\S+\s+up/.test(l)) || undefined,
      );
      await new Promise((res) => setTimeout(res, 2000));
      console.log(`receiver ${r}…`);
      const res =
        r === 'tortie'
          ? await runTortie(lab, ns, n)
          : r === 'bird'
            ? await runBird(lab, ns, n)
            : await runGoBgp(lab, ns, n);
      results.push(res);
      console.log(
        `  ${res.seconds.toFixed(2)} s, RSS +${((res.rssAfter - res.rssBefore) / 2 ** 20).toFixed(1)} MiB`,
      );
    }
  } finally {
    await lab.cleanup();
  }
  console.log(
    `\nload average before ${load0.map((x) => x.toFixed(1)).join(' ')}, after ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} (${cpus().length} CPUs)`,
  );
  console.log('runs:');
  for (const x of results)
    console.log(
      `  ${x.receiver}: ${x.seconds.toFixed(2)} s, +${Math.round((x.rssAfter - x.rssBefore) / x.prefixes)} B/route`,
    );
  printTable(medians(results));
}

/** Per receiver, the run with the median time. */
function medians(results: Result[]): Result[] {
  const out: Result[] = [];
  for (const r of ['tortie', 'bird', 'gobgp'] as Receiver[]) {
    const runs = results.filter((x) => x.receiver === r).sort((a, b) => a.seconds - b.seconds);
    if (runs.length > 0)
      out.push({
        ...runs[(runs.length - 1) >> 1]!,
        note: `${runs[0]!.note}; median of ${runs.length} run(s)`,
      });
  }
  return out;
}

function printTable(results: Result[]): void {
  const by = (r: Receiver) => results.find((x) => x.receiver === r);
  const bird = by('bird');
  const gobgp = by('gobgp');
  const perRoute = (x: Result) => (x.rssAfter - x.rssBefore) / x.prefixes;
  const ratio = (a: number, b: number | undefined) =>
    b === undefined || b <= 0 ? '–' : `${(a / b).toFixed(2)}×`;
  console.log('');
  console.log(
    '| receiver | prefixes | Established → last prefix | prefixes/s | RSS growth | bytes/route | time vs BIRD | time vs GoBGP | memory vs BIRD | memory vs GoBGP |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const x of results) {
    console.log(
      `| ${x.receiver} | ${x.prefixes.toLocaleString('en')} | ${x.seconds.toFixed(2)} s | ${Math.round(x.prefixes / x.seconds).toLocaleString('en')} | ${((x.rssAfter - x.rssBefore) / 2 ** 20).toFixed(1)} MiB | ${Math.round(perRoute(x))} | ${ratio(x.seconds, bird?.seconds)} | ${ratio(x.seconds, gobgp?.seconds)} | ${ratio(perRoute(x), bird && perRoute(bird))} | ${ratio(perRoute(x), gobgp && perRoute(gobgp))} |`,
    );
  }
  console.log('');
  for (const x of results) console.log(`${x.receiver}: ${x.note}`);
}
