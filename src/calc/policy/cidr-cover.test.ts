import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cidrContainsCidr, cidrEquals, parseCidr } from '../../model/cidr.js';
import { CidrCover, type CoverDelta } from './cidr-cover.js';

const NETS = [
  '10.0.0.0/8',
  '10.1.0.0/16',
  '10.1.2.0/24',
  '10.1.2.3/32',
  '10.2.0.0/16',
  '10.1.3.0/24',
  '192.168.0.0/24',
  '10.1.2.4/32',
];

function maximal(present: string[]): string[] {
  const cs = present.map(parseCidr);
  return [...new Set(present)]
    .filter((t) => {
      const c = parseCidr(t);
      return !cs.some((o) => !cidrEquals(o, c) && cidrContainsCidr(o, c));
    })
    .sort();
}

describe('CIDR cover (interval set contents)', () => {
  it('holds exactly the maximal CIDRs of the multiset, and its deltas track that', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.constantFrom(...NETS)), { maxLength: 40 }),
        (ops) => {
          const cover = new CidrCover();
          const present: string[] = [];
          const held = new Set<string>();
          for (const [add, net] of ops) {
            const d: CoverDelta = { add: [], remove: [] };
            if (add) {
              cover.add(net, d);
              present.push(net);
            } else if (present.includes(net)) {
              cover.remove(net, d);
              present.splice(present.indexOf(net), 1);
            }
            for (const x of d.remove) assert.ok(held.delete(x), `removed ${x} it did not hold`);
            for (const x of d.add) {
              assert.ok(!held.has(x), `added ${x} twice`);
              held.add(x);
            }
            assert.deepEqual(cover.elements(), maximal(present));
            assert.deepEqual([...held].sort(), cover.elements());
          }
        },
      ),
    );
  });
});
