// Decode throughput of realistic UPDATE streams, through MessageReader as the
// session would use it (64 KiB socket-sized chunks).
//
//   node --import tsx src/bgp/codec/bench.ts [prefixes]
//
// Scenarios:
//   calico-ipv4   /26 blocks, one attribute set per node: ~1000 prefixes per UPDATE
//   table-ipv4    an Internet-like table: /8../24, attributes change every 4 prefixes
//   table-ipv6    /32../64 in MP_REACH_NLRI, attributes change every 4 prefixes
//   withdraw-ipv4 the table withdrawn again

import {
  canonicalPrefix,
  encodeAnnouncements,
  encodeWithdrawals,
  MessageReader,
  type CodecContext,
  type PathAttributes,
} from './index.js';

export interface BenchResult {
  readonly scenario: string;
  readonly prefixes: number;
  readonly messages: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly prefixesPerSecond: number;
  readonly megabytesPerSecond: number;
}

const CTX: CodecContext = { fourOctetAs: true };

function attributesFor(i: number, ipv6: boolean): PathAttributes {
  const length = 2 + (i % 5);
  const asns = Array.from({ length }, (_, k) => 64512 + ((i * 7 + k * 13) % 1000));
  return {
    origin: (i % 3) as 0 | 1 | 2,
    asPath: [{ type: 'sequence', asns: [65001, ...asns] }],
    ...(ipv6 ? {} : { nextHop: `10.${(i >> 8) & 255}.${i & 255}.1` }),
    med: i % 100,
    communities: [0xfde90000 + (i % 50), 0xfde90100 + (i % 7)],
  };
}

function ipv4Prefix(i: number): string {
  const len = 8 + (i % 17); // /8 .. /24
  const v = (0x0b000000 + i * 256) >>> 0;
  const masked = len === 0 ? 0 : (v & (0xffffffff << (32 - len))) >>> 0;
  return `${masked >>> 24}.${(masked >>> 16) & 255}.${(masked >>> 8) & 255}.${masked & 255}/${len}`;
}

/** Encodes a scenario into one stream of UPDATE messages. */
export function buildStream(
  scenario: string,
  prefixes: number,
): { messages: Uint8Array[]; prefixes: number } {
  const messages: Uint8Array[] = [];
  const seen = new Set<string>();
  let count = 0;
  if (scenario === 'calico-ipv4') {
    // 64 /26 blocks per node, every node's blocks in one batch.
    const perNode = 1000;
    for (let node = 0; count < prefixes; node++) {
      const list = Array.from({ length: Math.min(perNode, prefixes - count) }, (_, k) => {
        const n = count + k;
        return `${10 + (n >> 18)}.${(n >> 10) & 255}.${(n >> 2) & 255}.${(n & 3) << 6}/26`;
      });
      messages.push(
        ...encodeAnnouncements(
          { afi: 1, safi: 1, attributes: attributesFor(node, false), prefixes: list },
          CTX,
        ),
      );
      count += list.length;
    }
  } else if (scenario === 'table-ipv4' || scenario === 'withdraw-ipv4') {
    const all: string[] = [];
    for (let i = 0; all.length < prefixes; i++) {
      const p = ipv4Prefix(i);
      if (!seen.has(p)) {
        seen.add(p);
        all.push(p);
      }
    }
    if (scenario === 'withdraw-ipv4') {
      messages.push(...encodeWithdrawals(1, 1, all, undefined, CTX));
    } else {
      for (let i = 0; i < all.length; i += 4) {
        messages.push(
          ...encodeAnnouncements(
            {
              afi: 1,
              safi: 1,
              attributes: attributesFor(i >> 2, false),
              prefixes: all.slice(i, i + 4),
            },
            CTX,
          ),
        );
      }
    }
    count = all.length;
  } else if (scenario === 'table-ipv6') {
    for (let i = 0; count < prefixes; i++) {
      const list = Array.from({ length: 4 }, (_, k) => {
        const n = i * 4 + k;
        const len = 32 + (n % 33); // /32 .. /64
        const text = `2001:${(0xdb8 + (n >> 20)).toString(16)}:${((n >> 4) & 0xffff).toString(16)}:${(n & 15).toString(16)}00::/${len}`;
        return canonicalPrefix(text)!;
      })
        .filter((p) => !seen.has(p) && seen.add(p))
        .slice(0, prefixes - count);
      messages.push(
        ...encodeAnnouncements(
          {
            afi: 2,
            safi: 1,
            attributes: attributesFor(i, true),
            nextHop: '2001:db8::1',
            linkLocalNextHop: 'fe80::1',
            prefixes: list,
          },
          CTX,
        ),
      );
      count += list.length;
    }
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  return { messages, prefixes: count };
}

/** Decodes the stream through a MessageReader in 64 KiB chunks; returns throughput. */
export function runDecodeBenchmark(scenario: string, prefixes: number, rounds = 3): BenchResult {
  const built = buildStream(scenario, prefixes);
  const total = built.messages.reduce((n, m) => n + m.length, 0);
  const stream = new Uint8Array(total);
  let at = 0;
  for (const m of built.messages) {
    stream.set(m, at);
    at += m.length;
  }
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const reader = new MessageReader(CTX, 1 << 17);
    let decodedPrefixes = 0;
    const start = process.hrtime.bigint();
    for (let offset = 0; offset < stream.length; offset += 65536) {
      reader.push(stream.subarray(offset, offset + 65536));
      for (let r = reader.next(); r !== undefined; r = reader.next()) {
        if (!r.ok || r.message.type !== 'update')
          throw new Error('benchmark stream did not decode');
        const u = r.message;
        decodedPrefixes +=
          u.nlri.length + u.withdrawn.length + (u.attributes.mpReach?.nlri.length ?? 0);
      }
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (decodedPrefixes !== built.prefixes)
      throw new Error(`decoded ${decodedPrefixes} of ${built.prefixes} prefixes`);
    best = Math.min(best, seconds);
  }
  return {
    scenario,
    prefixes: built.prefixes,
    messages: built.messages.length,
    bytes: total,
    seconds: best,
    prefixesPerSecond: built.prefixes / best,
    megabytesPerSecond: total / best / 1e6,
  };
}

export const SCENARIOS = ['calico-ipv4', 'table-ipv4', 'table-ipv6', 'withdraw-ipv4'] as const;

if (import.meta.url === `file://${process.argv[1]}`) {
  const prefixes = Number(process.argv[2] ?? 1_000_000);
  for (const scenario of SCENARIOS) {
    const r = runDecodeBenchmark(scenario, prefixes);
    console.log(
      `${r.scenario.padEnd(14)} ${r.prefixes} prefixes in ${r.messages} UPDATEs (${(r.bytes / 1e6).toFixed(1)} MB): ` +
        `${r.seconds.toFixed(3)} s, ${Math.round(r.prefixesPerSecond).toLocaleString('en')} prefixes/s, ` +
        `${r.megabytesPerSecond.toFixed(0)} MB/s`,
    );
  }
}
