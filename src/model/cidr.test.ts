import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import fc from 'fast-check';
import {
  CidrError,
  addressAt,
  canonicalCidr,
  cidrContainsAddress,
  cidrContainsCidr,
  cidrSize,
  cidrsOverlap,
  compareCidr,
  compareIP,
  firstAddress,
  formatCidr,
  formatIP,
  isCanonicalCidr,
  lastAddress,
  makeCidr,
  makeIP,
  maxPrefix,
  offsetOf,
  parseCidr,
  parseIP,
  subnetContaining,
  subnetCount,
  subnets,
  tryParseCidr,
  tryParseIP,
  type Cidr,
  type IPAddress,
  type IPFamily,
} from './cidr.js';

const ip = parseIP;
const cidr = parseCidr;

// ---------------------------------------------------------------------------
// Arbitraries

const familyArb = fc.constantFrom<IPFamily>(4, 6);

function addressArbOf(family: IPFamily): fc.Arbitrary<IPAddress> {
  const max = (1n << BigInt(maxPrefix(family))) - 1n;
  // Mix uniform values with sparse ones so that IPv6 zero runs actually occur.
  const uniform = fc.bigInt({ min: 0n, max });
  const sparse =
    family === 4
      ? fc
          .array(fc.constantFrom(0, 0, 1, 10, 127, 255), { minLength: 4, maxLength: 4 })
          .map((octets) => octets.reduce((v, o) => (v << 8n) | BigInt(o), 0n))
      : fc
          .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
            minLength: 8,
            maxLength: 8,
          })
          .map((groups) => groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n));
  return fc.oneof(uniform, sparse).map((value) => makeIP(family, value));
}

const addressArb = familyArb.chain(addressArbOf);
const ipv4Arb = addressArbOf(4);
const ipv6Arb = addressArbOf(6);

const cidrArb: fc.Arbitrary<Cidr> = addressArb.chain((a) =>
  fc.integer({ min: 0, max: maxPrefix(a.family) }).map((p) => subnetContaining(a, p)),
);

/** A CIDR together with an address of the same family. */
const cidrAndAddressArb = familyArb.chain((family) =>
  fc.tuple(
    addressArbOf(family).chain((a) =>
      fc.integer({ min: 0, max: maxPrefix(family) }).map((p) => subnetContaining(a, p)),
    ),
    addressArbOf(family),
  ),
);

/** Two CIDRs of the same family, often near each other so overlaps happen. */
const cidrPairArb = familyArb.chain((family) =>
  addressArbOf(family).chain((a) =>
    fc
      .tuple(
        fc.integer({ min: 0, max: maxPrefix(family) }),
        fc.integer({ min: 0, max: maxPrefix(family) }),
        fc.oneof(addressArbOf(family), fc.constant(a)),
      )
      .map(([p, q, b]) => [subnetContaining(a, p), subnetContaining(b, q)] as const),
  ),
);

/** Non-canonical spellings of an IPv6 address: padded, upper case, uncompressed. */
function ipv6SpellingArb(a: IPAddress): fc.Arbitrary<string> {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((a.value >> BigInt(i * 16)) & 0xffffn));
  return fc
    .record({
      pad: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      upper: fc.boolean(),
      compressAt: fc.integer({ min: 0, max: 7 }),
      compressLength: fc.integer({ min: 0, max: 8 }),
    })
    .map(({ pad, upper, compressAt, compressLength }) => {
      const parts = groups.map((g, i) => {
        const hex = pad[i] ? g.toString(16).padStart(4, '0') : g.toString(16);
        return upper ? hex.toUpperCase() : hex;
      });
      // Compress a zero run starting at compressAt, if there is one there.
      let length = 0;
      while (length < compressLength && groups[compressAt + length] === 0) length++;
      if (length === 0) return parts.join(':');
      const head = parts.slice(0, compressAt).join(':');
      const tail = parts.slice(compressAt + length).join(':');
      return `${head}::${tail}`;
    });
}

// ---------------------------------------------------------------------------
// Addresses

describe('parseIP / formatIP: IPv4', () => {
  test('parses dotted quads', () => {
    assert.deepEqual(ip('0.0.0.0'), { family: 4, value: 0n });
    assert.deepEqual(ip('255.255.255.255'), { family: 4, value: 0xffffffffn });
    assert.deepEqual(ip('10.1.2.3'), { family: 4, value: 0x0a010203n });
    assert.equal(formatIP(ip('192.168.0.1')), '192.168.0.1');
  });

  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '1.2.3.256',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.-4',
    '1.2.3.+4',
    '1..2.3',
    '1.2.3.4.',
    '.1.2.3.4',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3.4\n',
    '1.2.3.a',
    '0x1.2.3.4',
    '1.2.3.4/32',
    '１.2.3.4', // full-width digit
    '1000.2.3.4',
  ]) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      assert.equal(tryParseIP(bad), undefined);
      assert.throws(
        () => parseIP(bad),
        (e: unknown) =>
          e instanceof CidrError &&
          e.message === `${JSON.stringify(bad)} is not a valid IP address`,
      );
    });
  }
});

describe('parseIP / formatIP: IPv6', () => {
  const cases: [text: string, canonical: string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    // No "::" for a single zero group.
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8::1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    // Longest run wins; leftmost on a tie.
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['fd00::', 'fd00::'],
    ['fe80::1', 'fe80::1'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    // Embedded IPv4.
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::FFFF:10.0.0.1', '::ffff:10.0.0.1'],
    ['0:0:0:0:0:ffff:102:304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::102:304'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
  ];
  for (const [text, canonical] of cases) {
    test(`${text} -> ${canonical}`, () => {
      const a = ip(text);
      assert.equal(a.family, 6);
      assert.equal(formatIP(a), canonical);
      assert.deepEqual(ip(canonical), a);
    });
  }

  test('values', () => {
    assert.equal(ip('::').value, 0n);
    assert.equal(ip('::1').value, 1n);
    assert.equal(ip('8000::').value, 1n << 127n);
    assert.equal(ip('::ffff:1.2.3.4').value, 0xffff01020304n);
  });

  for (const bad of [
    ':',
    ':::',
    '::1::',
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4::5:6:7:8', // "::" must stand for at least one group
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '1:2:3:4:5:6:7:8:',
    '12345::',
    'g::',
    'fe80::1%eth0',
    'fe80::1%1',
    ' ::1',
    '::1 ',
    '[::1]',
    '::1.2.3',
    '::1.2.3.256',
    '::01.2.3.4',
    '1.2.3.4::',
    '::1.2.3.4:1',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::/0',
  ]) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      assert.equal(tryParseIP(bad), undefined);
      assert.throws(() => parseIP(bad), CidrError);
    });
  }
});

describe('address properties', () => {
  test('parse(format(a)) == a', () => {
    fc.assert(fc.property(addressArb, (a) => assert.deepEqual(parseIP(formatIP(a)), a)));
  });

  test('format(parse(text)) == text for canonical text', () => {
    fc.assert(
      fc.property(addressArb, (a) => {
        const text = formatIP(a);
        assert.equal(formatIP(parseIP(text)), text);
      }),
    );
  });

  test('IPv4 text is the dotted quad of the value', () => {
    fc.assert(
      fc.property(ipv4Arb, (a) => {
        const octets = [24n, 16n, 8n, 0n].map((s) => (a.value >> s) & 0xffn);
        assert.equal(formatIP(a), octets.join('.'));
      }),
    );
  });

  test('IPv6 text agrees with the WHATWG URL serializer (outside ::ffff:0:0/96)', () => {
    // The URL standard's IPv6 serializer implements the same compression rules as
    // RFC 5952; it just never uses the dotted form for IPv4-mapped addresses.
    const mapped = cidr('::ffff:0:0/96');
    fc.assert(
      fc.property(ipv6Arb, (a) => {
        fc.pre(!cidrContainsAddress(mapped, a));
        const host = new URL(`http://[${formatIP(a)}]/`).hostname;
        assert.equal(`[${formatIP(a)}]`, host);
      }),
    );
  });

  test('non-canonical IPv6 spellings parse to the same address', () => {
    fc.assert(
      fc.property(
        ipv6Arb.chain((a) => fc.tuple(fc.constant(a), ipv6SpellingArb(a))),
        ([a, text]) => assert.deepEqual(parseIP(text), a),
      ),
    );
  });

  test('compareIP orders IPv4 before IPv6 and by value', () => {
    assert.ok(compareIP(ip('255.255.255.255'), ip('::')) < 0);
    assert.ok(compareIP(ip('10.0.0.1'), ip('10.0.0.2')) < 0);
    assert.equal(compareIP(ip('::1'), ip('0::1')), 0);
  });

  test('makeIP checks the range', () => {
    assert.throws(() => makeIP(4, 1n << 32n), RangeError);
    assert.throws(() => makeIP(6, -1n), RangeError);
    assert.deepEqual(makeIP(6, (1n << 128n) - 1n), ip('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'));
  });
});

// ---------------------------------------------------------------------------
// CIDRs

describe('parseCidr / formatCidr', () => {
  test('parses and masks host bits', () => {
    assert.deepEqual(cidr('10.0.0.0/8'), { family: 4, network: 0x0a000000n, prefixLength: 8 });
    assert.deepEqual(cidr('10.0.0.5/24'), { family: 4, network: 0x0a000000n, prefixLength: 24 });
    assert.equal(formatCidr(cidr('192.168.1.77/26')), '192.168.1.64/26');
    assert.equal(formatCidr(cidr('fd00::1234/122')), 'fd00::1200/122');
    assert.equal(formatCidr(cidr('FD00:0::/64')), 'fd00::/64');
  });

  test('edge prefix lengths', () => {
    assert.deepEqual(cidr('0.0.0.0/0'), { family: 4, network: 0n, prefixLength: 0 });
    assert.deepEqual(cidr('1.2.3.4/0'), { family: 4, network: 0n, prefixLength: 0 });
    assert.deepEqual(cidr('::/0'), { family: 6, network: 0n, prefixLength: 0 });
    assert.equal(formatCidr(cidr('ffff::1/0')), '::/0');
    assert.equal(formatCidr(cidr('1.2.3.4/32')), '1.2.3.4/32');
    assert.equal(formatCidr(cidr('fd00::1/128')), 'fd00::1/128');
    assert.equal(cidrSize(cidr('0.0.0.0/0')), 1n << 32n);
    assert.equal(cidrSize(cidr('::/0')), 1n << 128n);
    assert.equal(cidrSize(cidr('1.2.3.4/32')), 1n);
    assert.equal(cidrSize(cidr('::1/128')), 1n);
  });

  test('a bare address is a host route', () => {
    assert.equal(formatCidr(cidr('10.1.2.3')), '10.1.2.3/32');
    assert.equal(formatCidr(cidr('fd00::5')), 'fd00::5/128');
  });

  for (const bad of [
    '',
    '/24',
    '10.0.0.0/',
    '10.0.0.0/33',
    '10.0.0.0/-1',
    '10.0.0.0/+8',
    '10.0.0.0/08',
    '10.0.0.0/8.0',
    '10.0.0.0/8/8',
    '10.0.0.0 /8',
    '10.0.0.0/ 8',
    '10.0.0.0/8 ',
    '10.0.0/8',
    '256.0.0.0/8',
    '::/129',
    '::/1280',
    'fe80::1%eth0/64',
    '10.0.0.0/0x8',
    '10.0.0.0/abc',
  ]) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      assert.equal(tryParseCidr(bad), undefined);
      assert.throws(
        () => parseCidr(bad),
        (e: unknown) =>
          e instanceof CidrError && e.message === `${JSON.stringify(bad)} is not a valid CIDR`,
      );
    });
  }

  test('canonicalCidr and isCanonicalCidr', () => {
    assert.equal(canonicalCidr('10.0.0.5/24'), '10.0.0.0/24');
    assert.equal(canonicalCidr('FD00:0:0:0::1/64'), 'fd00::/64');
    assert.equal(canonicalCidr('10.0.0.1'), '10.0.0.1/32');
    assert.throws(() => canonicalCidr('10.0.0.0/33'), CidrError);
    assert.equal(isCanonicalCidr('10.0.0.0/24'), true);
    assert.equal(isCanonicalCidr('fd00::/64'), true);
    assert.equal(isCanonicalCidr('10.0.0.5/24'), false);
    assert.equal(isCanonicalCidr('10.0.0.1'), false);
    assert.equal(isCanonicalCidr('FD00::/64'), false);
    assert.equal(isCanonicalCidr('10.0.0.0/33'), false);
    assert.equal(isCanonicalCidr(''), false);
  });

  test('makeCidr masks and checks', () => {
    assert.equal(formatCidr(makeCidr(4, 0x0a0000ffn, 24)), '10.0.0.0/24');
    assert.throws(() => makeCidr(4, 0n, 33), RangeError);
    assert.throws(() => makeCidr(4, 0n, 1.5), RangeError);
    assert.throws(() => makeCidr(4, 1n << 32n, 8), RangeError);
  });
});

describe('containment and overlap', () => {
  test('examples', () => {
    const net = cidr('10.0.0.0/24');
    assert.equal(cidrContainsAddress(net, ip('10.0.0.0')), true);
    assert.equal(cidrContainsAddress(net, ip('10.0.0.255')), true);
    assert.equal(cidrContainsAddress(net, ip('10.0.1.0')), false);
    assert.equal(cidrContainsAddress(net, ip('9.255.255.255')), false);
    assert.equal(cidrContainsAddress(cidr('0.0.0.0/0'), ip('255.255.255.255')), true);
    assert.equal(cidrContainsAddress(cidr('::/0'), ip('1.2.3.4')), false, 'families differ');
    assert.equal(cidrContainsAddress(cidr('0.0.0.0/0'), ip('::')), false, 'families differ');
    assert.equal(cidrContainsAddress(cidr('fd00::/8'), ip('fdff::1')), true);
    assert.equal(cidrContainsAddress(cidr('fd00::/8'), ip('fe00::')), false);

    assert.equal(cidrContainsCidr(net, cidr('10.0.0.64/26')), true);
    assert.equal(cidrContainsCidr(net, net), true);
    assert.equal(cidrContainsCidr(cidr('10.0.0.64/26'), net), false);
    assert.equal(cidrContainsCidr(net, cidr('10.0.1.0/26')), false);
    assert.equal(cidrContainsCidr(cidr('::/0'), cidr('0.0.0.0/0')), false);

    assert.equal(cidrsOverlap(net, cidr('10.0.0.128/25')), true);
    assert.equal(cidrsOverlap(cidr('10.0.0.128/25'), net), true);
    assert.equal(cidrsOverlap(cidr('10.0.0.0/25'), cidr('10.0.0.128/25')), false);
    assert.equal(cidrsOverlap(cidr('0.0.0.0/0'), cidr('::/0')), false);
  });

  test('overlap is symmetric and equals containment either way', () => {
    fc.assert(
      fc.property(cidrPairArb, ([a, b]) => {
        assert.equal(cidrsOverlap(a, b), cidrsOverlap(b, a));
        assert.equal(cidrsOverlap(a, b), cidrContainsCidr(a, b) || cidrContainsCidr(b, a));
      }),
    );
  });

  test('overlap iff the address ranges intersect', () => {
    fc.assert(
      fc.property(cidrPairArb, ([a, b]) => {
        const aLast = lastAddress(a).value;
        const bLast = lastAddress(b).value;
        const intersect = a.network <= bLast && b.network <= aLast;
        assert.equal(cidrsOverlap(a, b), intersect);
      }),
    );
  });

  test('containment of an address agrees with node:net BlockList', () => {
    fc.assert(
      fc.property(cidrAndAddressArb, ([c, a]) => {
        const list = new BlockList();
        const type = c.family === 4 ? 'ipv4' : 'ipv6';
        list.addSubnet(formatIP(firstAddress(c)), c.prefixLength, type);
        assert.equal(cidrContainsAddress(c, a), list.check(formatIP(a), type));
      }),
      { numRuns: 300 },
    );
  });

  test('cidrContainsCidr(outer, inner) iff both ends of inner are in outer', () => {
    fc.assert(
      fc.property(cidrPairArb, ([a, b]) => {
        const expected =
          cidrContainsAddress(a, firstAddress(b)) && cidrContainsAddress(a, lastAddress(b));
        assert.equal(cidrContainsCidr(a, b), expected);
      }),
    );
  });

  test('compareCidr sorts by family, network, then wider first', () => {
    const sorted = ['fd00::/64', '10.0.0.0/24', '10.0.0.0/8', '9.0.0.0/8']
      .map(cidr)
      .sort(compareCidr)
      .map(formatCidr);
    assert.deepEqual(sorted, ['9.0.0.0/8', '10.0.0.0/8', '10.0.0.0/24', 'fd00::/64']);
  });
});

describe('offsets', () => {
  test('examples', () => {
    const net = cidr('10.0.0.0/30');
    assert.equal(formatIP(addressAt(net, 0n)), '10.0.0.0');
    assert.equal(formatIP(addressAt(net, 3n)), '10.0.0.3');
    assert.throws(() => addressAt(net, 4n), RangeError);
    assert.throws(() => addressAt(net, -1n), RangeError);
    assert.equal(offsetOf(net, ip('10.0.0.2')), 2n);
    assert.throws(() => offsetOf(net, ip('10.0.0.4')), RangeError);
    assert.throws(() => offsetOf(net, ip('::2')), RangeError);
    assert.equal(
      formatIP(addressAt(cidr('::/0'), (1n << 128n) - 1n)),
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    );
    assert.equal(formatIP(lastAddress(cidr('fd00::/120'))), 'fd00::ff');
  });

  test('every offset of a small block round-trips and is contained', () => {
    const smallCidrArb = addressArb.chain((a) =>
      fc
        .integer({ min: maxPrefix(a.family) - 6, max: maxPrefix(a.family) })
        .map((p) => subnetContaining(a, p)),
    );
    fc.assert(
      fc.property(smallCidrArb, (c) => {
        const size = cidrSize(c);
        for (let o = 0n; o < size; o++) {
          const a = addressAt(c, o);
          assert.ok(cidrContainsAddress(c, a));
          assert.equal(offsetOf(c, a), o);
        }
        assert.throws(() => addressAt(c, size), RangeError);
      }),
      { numRuns: 200 },
    );
  });

  test('random offsets of any block round-trip', () => {
    const arb = cidrArb.chain((c) =>
      fc.tuple(fc.constant(c), fc.bigInt({ min: 0n, max: cidrSize(c) - 1n })),
    );
    fc.assert(
      fc.property(arb, ([c, o]) => {
        const a = addressAt(c, o);
        assert.ok(cidrContainsAddress(c, a));
        assert.equal(offsetOf(c, a), o);
      }),
    );
  });

  test('an address is contained iff offsetOf succeeds', () => {
    fc.assert(
      fc.property(cidrAndAddressArb, ([c, a]) => {
        if (cidrContainsAddress(c, a)) {
          assert.deepEqual(addressAt(c, offsetOf(c, a)), a);
        } else {
          assert.throws(() => offsetOf(c, a), RangeError);
        }
      }),
    );
  });
});

describe('canonical form properties', () => {
  test('canonicalCidr is idempotent and parse(format(c)) == c', () => {
    fc.assert(
      fc.property(cidrArb, (c) => {
        const text = formatCidr(c);
        assert.deepEqual(parseCidr(text), c);
        assert.equal(canonicalCidr(text), text);
        assert.equal(canonicalCidr(canonicalCidr(text)), text);
        assert.ok(isCanonicalCidr(text));
      }),
    );
  });

  test('canonicalCidr of text with host bits set is idempotent and contains the address', () => {
    fc.assert(
      fc.property(
        addressArb.chain((a) =>
          fc.tuple(fc.constant(a), fc.integer({ min: 0, max: maxPrefix(a.family) })),
        ),
        ([a, p]) => {
          const text = `${formatIP(a)}/${p}`;
          const canonical = canonicalCidr(text);
          assert.equal(canonicalCidr(canonical), canonical);
          assert.equal(isCanonicalCidr(text), text === canonical);
          assert.ok(cidrContainsAddress(parseCidr(canonical), a));
          assert.deepEqual(parseCidr(canonical), subnetContaining(a, p));
        },
      ),
    );
  });
});

describe('subnets', () => {
  test('examples', () => {
    assert.deepEqual([...subnets(cidr('10.0.0.0/24'), 26)].map(formatCidr), [
      '10.0.0.0/26',
      '10.0.0.64/26',
      '10.0.0.128/26',
      '10.0.0.192/26',
    ]);
    assert.deepEqual([...subnets(cidr('fd00::/120'), 121)].map(formatCidr), [
      'fd00::/121',
      'fd00::80/121',
    ]);
    assert.deepEqual([...subnets(cidr('10.0.0.0/24'), 24)].map(formatCidr), ['10.0.0.0/24']);
    assert.throws(() => subnets(cidr('10.0.0.0/24'), 23), RangeError);
    assert.throws(() => subnets(cidr('10.0.0.0/24'), 33), RangeError);
    assert.throws(() => subnets(cidr('::/0'), 129), RangeError);
  });

  test('is lazy: a /8 into /26s and ::/0 into /128s', () => {
    const first = subnets(cidr('10.0.0.0/8'), 26)[Symbol.iterator]();
    assert.equal(formatCidr(first.next().value as Cidr), '10.0.0.0/26');
    assert.equal(formatCidr(first.next().value as Cidr), '10.0.0.64/26');
    assert.equal(subnetCount(cidr('10.0.0.0/8'), 26), 1n << 18n);
    let seen = 0;
    for (const s of subnets(cidr('::/0'), 128)) {
      if (++seen === 3) {
        assert.equal(formatCidr(s), '::2/128');
        break;
      }
    }
  });

  test('is re-iterable', () => {
    const blocks = subnets(cidr('10.0.0.0/30'), 31);
    assert.deepEqual([...blocks], [...blocks]);
  });

  test('partition the parent: count, order, disjoint, contained, covering', () => {
    const arb = cidrArb.chain((c) =>
      fc.tuple(
        fc.constant(c),
        fc.integer({ min: c.prefixLength, max: Math.min(c.prefixLength + 7, maxPrefix(c.family)) }),
      ),
    );
    fc.assert(
      fc.property(arb, ([parent, p]) => {
        const children = [...subnets(parent, p)];
        assert.equal(BigInt(children.length), 1n << BigInt(p - parent.prefixLength));
        let expectedNext = parent.network;
        for (const child of children) {
          assert.equal(child.prefixLength, p);
          assert.ok(cidrContainsCidr(parent, child));
          // In order and adjacent, hence disjoint and covering the parent.
          assert.equal(child.network, expectedNext);
          expectedNext = child.network + cidrSize(child);
        }
        assert.equal(expectedNext, parent.network + cidrSize(parent));
        for (let i = 1; i < Math.min(children.length, 16); i++) {
          assert.equal(cidrsOverlap(children[i - 1]!, children[i]!), false);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('subnetContaining', () => {
    assert.equal(formatCidr(subnetContaining(ip('10.1.2.3'), 16)), '10.1.0.0/16');
    assert.equal(formatCidr(subnetContaining(ip('fd00::abcd'), 120)), 'fd00::ab00/120');
    assert.equal(formatCidr(subnetContaining(ip('10.1.2.3'), 0)), '0.0.0.0/0');
    assert.throws(() => subnetContaining(ip('10.1.2.3'), 33), RangeError);
    fc.assert(
      fc.property(
        addressArb.chain((a) =>
          fc.tuple(fc.constant(a), fc.integer({ min: 0, max: maxPrefix(a.family) })),
        ),
        ([a, p]) => {
          const block = subnetContaining(a, p);
          assert.ok(cidrContainsAddress(block, a));
          assert.equal(block.prefixLength, p);
        },
      ),
    );
  });
});
