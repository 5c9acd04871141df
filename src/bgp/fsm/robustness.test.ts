// Session-level robustness: every message of the codec's malformed-message
// corpus, sent over a real loopback socket to a running speaker, gets the
// RFC-mandated reaction (NOTIFICATION and close, or treat-as-withdraw /
// attribute-discard with the session kept), and a fuzz test throws garbage
// and mutated UPDATEs at it. The speaker runs in this process, so "the
// process never crashes" is the test runner finishing.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import fc from 'fast-check';

import { encodeMessage, type CodecContext, type UpdateMessage } from '../codec/index.js';
import { BgpSpeaker } from '../speaker.js';
import { RawPeer } from '../test-support/raw-peer.js';

const HOST = '127.0.2.1';
const PEER = '127.0.2.2';
const PEER_AS = 65001;

let speaker: BgpSpeaker;
let port = 0;
const raws: RawPeer[] = [];

before(async () => {
  speaker = new BgpSpeaker(
    process.env.BGP_DEBUG
      ? {
          logger: {
            info: (o, m) => console.log(m, JSON.stringify(o)),
            warn: (o, m) => console.log(m, JSON.stringify(o)),
            debug: () => {},
          },
        }
      : {},
  );
  await speaker.start({
    routerId: '10.0.2.1',
    asn: 65000,
    listen: { host: HOST, port: 0 },
    idleHoldTime: 0.01,
  });
  port = speaker.status().listening!.port;
  speaker.addPeer({ address: PEER, asn: PEER_AS, passive: true, type: 'global' });
});

after(async () => {
  for (const r of raws) r.close();
  await speaker.stop();
});

const peerStatus = () => speaker.status().peers.find((p) => p.address === PEER)!;

async function waitPeer(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 3000;
  while (!pred()) {
    if (Date.now() > end)
      throw new Error(`timed out: ${what} (peer ${JSON.stringify(peerStatus())})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A fresh session from the raw peer; waits for the speaker to be ready for one. */
async function connect(): Promise<RawPeer> {
  await waitPeer(() => peerStatus().state === 'Active', 'Active');
  const r = await RawPeer.connect(HOST, port, PEER);
  raws.push(r);
  return r;
}

async function establish(ctx?: CodecContext): Promise<RawPeer> {
  const r = await connect();
  await r.handshake({ asn: PEER_AS, bgpId: '10.0.2.2', fourOctetAs: ctx?.fourOctetAs ?? true });
  await waitPeer(() => peerStatus().state === 'Established', 'Established');
  return r;
}

function announce(prefixes: string[]): UpdateMessage {
  const v4 = prefixes.filter((p) => !p.includes(':'));
  const v6 = prefixes.filter((p) => p.includes(':'));
  return {
    type: 'update',
    withdrawn: [],
    attributes: {
      origin: 0,
      asPath: [{ type: 'sequence', asns: [PEER_AS] }],
      ...(v4.length > 0 ? { nextHop: '127.0.2.2' } : {}),
      ...(v6.length > 0 ? { mpReach: { afi: 2, safi: 1, nextHop: '2001:db8::2', nlri: v6 } } : {}),
    },
    nlri: v4,
  };
}

/** After a non-fatal message, the session must still be up: round-trip something and look. */
async function stillUp(r: RawPeer): Promise<void> {
  await new Promise((res) => setTimeout(res, 30));
  assert.equal(r.closed, false, `session closed: ${peerStatus().info}`);
  assert.equal(r.first('notification'), undefined);
  assert.equal(peerStatus().state, 'Established');
}

async function closedWith(r: RawPeer, code: number, subcode: number): Promise<void> {
  await r.until(() => r.closed, 3000, 'the speaker to close');
  const n = r.first('notification');
  assert.ok(n !== undefined, 'a NOTIFICATION before the close');
  assert.deepEqual([n.code, n.subcode], [code, subcode], `NOTIFICATION ${n.code}/${n.subcode}`);
}

// ---------------------------------------------------------------------------

interface CorpusEntry {
  description: string;
  context?: CodecContext;
  bytes: string[];
  expect: {
    action: string;
    code?: number;
    subcode?: number;
    withdrawn?: { afi: number; safi: number; prefixes: string[] }[];
  };
}

const corpusDir = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'codec', 'testdata');
const corpus = readdirSync(corpusDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({
    file: f,
    entry: JSON.parse(readFileSync(join(corpusDir, f), 'utf8')) as CorpusEntry,
  }));

function bytesOf(lines: string[]): Uint8Array {
  return Uint8Array.from(
    Buffer.from(lines.map((l) => l.replace(/#.*$/, '').replace(/\s+/g, '')).join(''), 'hex'),
  );
}

describe('the codec corpus at the session level', () => {
  for (const { file, entry } of corpus) {
    const ctx = entry.context;
    // The speaker negotiates neither ADD-PATH nor extended messages, so those contexts cannot arise.
    const reachable = ctx?.addPath === undefined && ctx?.extendedMessage !== true;
    it(
      `${file.replace(/\.json$/, '')}: ${entry.description}`,
      { skip: !reachable && 'context not negotiable' },
      async () => {
        const bytes = bytesOf(entry.bytes);
        const e = entry.expect;
        const isOpen = bytes.length > 18 && bytes[18] === 1 && file.startsWith('open');
        if (isOpen) {
          // OPEN errors: the message is the peer's OPEN.
          const r = await connect();
          r.send(bytes);
          await closedWith(r, e.code!, e.subcode!);
          return;
        }
        const r = await establish(ctx);
        try {
          await corpusCase(r, bytes, e);
        } finally {
          r.close();
        }
      },
    );
  }
});

async function corpusCase(r: RawPeer, bytes: Uint8Array, e: CorpusEntry['expect']): Promise<void> {
  const carried = (e.withdrawn ?? []).flatMap((w) => (w.safi === 1 ? w.prefixes : []));
  if (e.action === 'treat-as-withdraw' && carried.length > 0) {
    r.sendMessage(announce(carried));
    await waitPeer(() => carried.every((p) => speaker.route(p) !== undefined), 'routes announced');
  }
  r.send(bytes);
  switch (e.action) {
    case 'notification':
    case 'session-reset':
      await closedWith(r, e.code!, e.subcode!);
      break;
    case 'treat-as-withdraw':
      await stillUp(r);
      for (const p of carried) assert.equal(speaker.route(p), undefined, `${p} withdrawn`);
      break;
    default: // attribute-discard, ok
      await stillUp(r);
  }
}

describe('session reactions beyond the codec', () => {
  it('drops a route whose AS path holds our AS (RIB), counting it received but not accepted', async () => {
    const r = await establish();
    const m = announce(['10.2.1.0/24']);
    r.sendMessage({
      ...m,
      attributes: { ...m.attributes, asPath: [{ type: 'sequence', asns: [PEER_AS, 65000] }] },
    });
    await waitPeer(() => peerStatus().prefixesReceived === 1, 'received');
    assert.equal(peerStatus().prefixesAccepted, 0);
    assert.equal(speaker.route('10.2.1.0/24'), undefined);
    await stillUp(r);
    r.close();
  });

  it('answers an UPDATE in OpenConfirm with 5/2', async () => {
    const r = await connect();
    r.sendMessage({
      type: 'open',
      version: 4,
      myAs: PEER_AS,
      holdTime: 90,
      bgpId: '10.0.2.2',
      capabilities: [],
    });
    await r.until(() => r.received.some((m) => m.type === 'keepalive'), 2000, 'KEEPALIVE');
    r.send(encodeMessage(announce(['10.2.2.0/24'])));
    await closedWith(r, 5, 2);
  });

  it('survives fuzzing: garbage and mutated UPDATEs get a NOTIFICATION or nothing, never a crash', async () => {
    const valid = encodeMessage(announce(['10.3.0.0/24', '10.3.1.0/24', '2001:db8:3::/48']), {
      fourOctetAs: true,
    });
    const input = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 200 }),
      fc
        .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        })
        .map((edits) => {
          const b = valid.slice();
          for (const [i, v] of edits) b[i] = v;
          return b;
        }),
      fc.uint8Array({ minLength: 0, maxLength: 120 }).map((body) => {
        const b = new Uint8Array(19 + body.length);
        b.fill(0xff, 0, 16);
        b[16] = b.length >> 8;
        b[17] = b.length & 0xff;
        b[18] = 2;
        b.set(body, 19);
        return b;
      }),
    );
    let r = await establish();
    let closes = 0;
    await fc.assert(
      fc.asyncProperty(input, async (bytes) => {
        if (r.closed) r = await establish();
        r.send(bytes);
        const deadline = Date.now() + 40;
        while (!r.closed && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
        if (r.closed) {
          closes++;
          // Whatever made the speaker close, it said why first.
          assert.ok(r.first('notification') !== undefined, 'closed without a NOTIFICATION');
        } else {
          assert.equal(peerStatus().state, 'Established');
        }
      }),
      { numRuns: 150 },
    );
    assert.ok(closes > 0);
    r.close();
  });
});
