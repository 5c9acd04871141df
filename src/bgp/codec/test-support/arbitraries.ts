// fast-check generators of valid codec values: every message type, every
// attribute, under every context. "Valid" means encode → decode gives the
// same value back with no problem reported.

import fc from 'fast-check';
import type {
  AddPathFamilies,
  AsPathSegment,
  BgpMessage,
  Capability,
  CodecContext,
  MpReach,
  MpUnreach,
  NotificationMessage,
  OpenMessage,
  PathAttributes,
  Prefix,
  RouteRefreshMessage,
  UnknownAttribute,
  UpdateMessage,
} from '../index.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** fc.record with ordinary objects (fast-check 4 defaults to null prototypes, which deepStrictEqual tells apart). */
const rec = ((model: never, constraints?: object) =>
  fc.record(model, { ...constraints, noNullPrototype: true } as never)) as typeof fc.record;

const byte = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const ipv4 = fc.tuple(byte, byte, byte, byte).map((o) => o.join('.'));
/** A unicast host address: what NEXT_HOP accepts (first octet 1..223). */
export const hostIPv4 = fc
  .tuple(fc.integer({ min: 1, max: 223 }), byte, byte, byte)
  .map((o) => o.join('.'));
export const nonZeroIPv4 = fc
  .tuple(fc.integer({ min: 1, max: 255 }), byte, byte, byte)
  .map((o) => o.join('.'));

function formatV6(bytes: Uint8Array): string {
  // Independent of the codec's formatter: via the URL parser's canonical IPv6 text.
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

export const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
  // Avoid ::ffff:0:0/96, which the URL parser prints in hex but RFC 5952 §5 dotted.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) b[11] = 0xfe;
  return formatV6(b);
});

function maskBytes(bytes: Uint8Array, length: number): Uint8Array {
  const out = bytes.slice();
  for (let bit = length; bit < out.length * 8; bit++) out[bit >>> 3]! &= ~(0x80 >>> (bit & 7));
  return out;
}

export const ipv4Prefix: fc.Arbitrary<Prefix> = fc
  .tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
  .map(([b, len]) => `${[...maskBytes(b, len)].join('.')}/${len}`);

export const ipv6Prefix: fc.Arbitrary<Prefix> = fc
  .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }))
  .map(([b, len]) => {
    const m = maskBytes(b, len);
    if (m.subarray(0, 10).every((x) => x === 0) && m[10] === 0xff && m[11] === 0xff) {
      // ::ffff:a.b.c.d: RFC 5952 §5 text, built by hand.
      return `::ffff:${m[12]}.${m[13]}.${m[14]}.${m[15]}/${len}`;
    }
    return `${formatV6(m)}/${len}`;
  });

export const context: fc.Arbitrary<CodecContext> = rec(
  {
    fourOctetAs: fc.boolean(),
    addPath: rec({ ipv4Unicast: fc.boolean(), ipv6Unicast: fc.boolean() }, { requiredKeys: [] }),
    extendedMessage: fc.boolean(),
  },
  { requiredKeys: ['fourOctetAs'] },
);

function addPathOn(ctx: CodecContext, afi: number, safi: number): boolean {
  const a: AddPathFamilies | undefined = ctx.addPath;
  if (a === undefined || safi !== 1) return false;
  return afi === 1 ? a.ipv4Unicast === true : afi === 2 && a.ipv6Unicast === true;
}

const segmentKind = fc.constantFrom(
  'set',
  'sequence',
  'confed-sequence',
  'confed-set',
) as fc.Arbitrary<AsPathSegment['type']>;

export function asPath(asn: fc.Arbitrary<number>, confed = true): fc.Arbitrary<AsPathSegment[]> {
  const kind = confed
    ? segmentKind
    : (fc.constantFrom('set', 'sequence') as fc.Arbitrary<AsPathSegment['type']>);
  return fc.array(rec({ type: kind, asns: fc.array(asn, { minLength: 1, maxLength: 8 }) }), {
    maxLength: 4,
  });
}

const KNOWN_TYPES = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32]);

export const unknownAttributes: fc.Arbitrary<UnknownAttribute[]> = fc
  .uniqueArray(
    rec({
      type: fc.integer({ min: 0, max: 255 }).filter((t) => !KNOWN_TYPES.has(t)),
      flags: fc.constantFrom(0xc0, 0xe0),
      value: fc.uint8Array({ maxLength: 300 }),
    }),
    { selector: (u) => u.type, maxLength: 3 },
  )
  .map((list) => list.sort((a, b) => a.type - b.type));

function prefixesWithIds(
  ctx: CodecContext,
  afi: number,
  safi: number,
): fc.Arbitrary<{ prefixes: Prefix[]; pathIds?: number[] }> {
  const prefix = afi === 1 ? ipv4Prefix : ipv6Prefix;
  return fc
    .array(prefix, { maxLength: 12 })
    .chain((prefixes) =>
      addPathOn(ctx, afi, safi)
        ? fc
            .array(u32, { minLength: prefixes.length, maxLength: prefixes.length })
            .map((pathIds) => ({ prefixes, pathIds }))
        : fc.constant({ prefixes }),
    );
}

const family = rec({ afi: fc.constantFrom(1, 2), safi: fc.constantFrom(1, 2) });

function mpReach(ctx: CodecContext): fc.Arbitrary<MpReach> {
  return family.chain(({ afi, safi }) =>
    fc
      .tuple(
        prefixesWithIds(ctx, afi, safi),
        afi === 1 ? hostIPv4 : ipv6,
        afi === 2 ? fc.option(ipv6, { nil: undefined }) : fc.constant(undefined),
      )
      .map(([{ prefixes, pathIds }, nextHop, linkLocal]) => {
        const r: Mutable<MpReach> = { afi, safi, nextHop, nlri: prefixes };
        if (linkLocal !== undefined) r.linkLocalNextHop = linkLocal;
        if (pathIds !== undefined) r.pathIds = pathIds;
        return r;
      }),
  );
}

function mpUnreach(ctx: CodecContext): fc.Arbitrary<MpUnreach> {
  return family.chain(({ afi, safi }) =>
    prefixesWithIds(ctx, afi, safi).map(({ prefixes, pathIds }) =>
      pathIds === undefined
        ? { afi, safi, withdrawn: prefixes }
        : { afi, safi, withdrawn: prefixes, pathIds },
    ),
  );
}

/** Path attributes that decode without any RFC 7606 problem under ctx. */
export function attributes(ctx: CodecContext): fc.Arbitrary<PathAttributes> {
  const asn = ctx.fourOctetAs ? u32 : u16;
  const aggregator = rec({ asn, address: ipv4 });
  return rec(
    {
      origin: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
      asPath: asPath(asn),
      nextHop: hostIPv4,
      med: u32,
      localPref: u32,
      atomicAggregate: fc.constant(true as const),
      aggregator,
      communities: fc.array(u32, { minLength: 1, maxLength: 6 }),
      originatorId: ipv4,
      clusterList: fc.array(ipv4, { minLength: 1, maxLength: 4 }),
      mpReach: mpReach(ctx),
      mpUnreach: mpUnreach(ctx),
      extendedCommunities: fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), {
        minLength: 1,
        maxLength: 4,
      }),
      largeCommunities: fc.array(rec({ global: u32, local1: u32, local2: u32 }), {
        minLength: 1,
        maxLength: 3,
      }),
      unknown: unknownAttributes.filter((u) => u.length > 0),
      ...(ctx.fourOctetAs
        ? {}
        : {
            as4Path: asPath(u32, false).filter((p) => p.length > 0),
            as4Aggregator: rec({ asn: u32, address: ipv4 }),
          }),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<PathAttributes>;
}

/** A valid UPDATE under ctx (mandatory attributes present whenever something is announced). */
export function update(ctx: CodecContext): fc.Arbitrary<UpdateMessage> {
  return fc
    .tuple(prefixesWithIds(ctx, 1, 1), attributes(ctx), prefixesWithIds(ctx, 1, 1))
    .map(([withdrawn, attrs, nlri]) => {
      const a: Mutable<PathAttributes> = { ...attrs };
      if (nlri.prefixes.length > 0 || a.mpReach !== undefined) {
        a.origin ??= 0;
        a.asPath ??= [];
      }
      if (nlri.prefixes.length > 0) a.nextHop ??= '192.0.2.1';
      const m: Mutable<UpdateMessage> = {
        type: 'update',
        withdrawn: withdrawn.prefixes,
        attributes: a,
        nlri: nlri.prefixes,
      };
      if (withdrawn.pathIds !== undefined) m.withdrawnPathIds = withdrawn.pathIds;
      if (nlri.pathIds !== undefined) m.nlriPathIds = nlri.pathIds;
      return m;
    });
}

const KNOWN_CAPS = new Set([1, 2, 6, 64, 65, 69, 70, 128]);

export const capability: fc.Arbitrary<Capability> = fc.oneof(
  rec({ kind: fc.constant('multiprotocol' as const), afi: u16, safi: byte }),
  fc.constant({ kind: 'route-refresh' as const }),
  fc.constant({ kind: 'route-refresh-cisco' as const }),
  fc.constant({ kind: 'enhanced-route-refresh' as const }),
  fc.constant({ kind: 'extended-message' as const }),
  rec({
    kind: fc.constant('four-octet-as' as const),
    asn: fc.integer({ min: 1, max: 0xffffffff }),
  }),
  rec({
    kind: fc.constant('graceful-restart' as const),
    restarting: fc.boolean(),
    notification: fc.boolean(),
    restartTime: fc.integer({ min: 0, max: 4095 }),
    families: fc.array(rec({ afi: u16, safi: byte, forwarding: fc.boolean() }), {
      maxLength: 4,
    }),
  }),
  rec({
    kind: fc.constant('add-path' as const),
    families: fc.array(
      rec({
        afi: u16,
        safi: byte,
        mode: fc.constantFrom('receive', 'send', 'both') as fc.Arbitrary<
          'receive' | 'send' | 'both'
        >,
      }),
      { maxLength: 4 },
    ),
  }),
  rec({
    kind: fc.constant('unknown' as const),
    code: byte.filter((c) => !KNOWN_CAPS.has(c)),
    value: fc.uint8Array({ maxLength: 40 }),
  }),
);

export const open: fc.Arbitrary<OpenMessage> = rec({
  type: fc.constant('open' as const),
  version: fc.constant(4),
  myAs: fc.integer({ min: 1, max: 0xffff }),
  holdTime: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
  bgpId: nonZeroIPv4,
  capabilities: fc.array(capability, { maxLength: 30 }),
});

export const notification: fc.Arbitrary<NotificationMessage> = rec({
  type: fc.constant('notification' as const),
  code: byte,
  subcode: byte,
  data: fc.uint8Array({ maxLength: 64 }),
});

export const routeRefresh: fc.Arbitrary<RouteRefreshMessage> = fc
  .record({
    type: fc.constant('route-refresh' as const),
    afi: u16,
    safi: byte,
    subtype: byte,
    orf: fc.option(fc.uint8Array({ minLength: 1, maxLength: 32 }), { nil: undefined }),
  })
  .map((r) => {
    if (r.orf === undefined || r.subtype === 1 || r.subtype === 2) {
      return { type: r.type, afi: r.afi, safi: r.safi, subtype: r.subtype };
    }
    return { type: r.type, afi: r.afi, safi: r.safi, subtype: r.subtype, orf: r.orf };
  });

/** Any valid message under ctx. */
export function message(ctx: CodecContext): fc.Arbitrary<BgpMessage> {
  return fc.oneof(
    open,
    update(ctx),
    notification,
    fc.constant({ type: 'keepalive' as const }),
    routeRefresh,
  );
}

/** A context and a message valid under it. */
export const contextAndMessage: fc.Arbitrary<[CodecContext, BgpMessage]> = context.chain((ctx) =>
  message(ctx).map((m): [CodecContext, BgpMessage] => [ctx, m]),
);
