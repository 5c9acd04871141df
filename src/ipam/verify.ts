// Strict consistency of the IPAM keys, for tests and the concurrency and
// fault harnesses: every block valid, handle records equal to what the
// blocks hold, every block owned by exactly the node its affinity names.

import { formatCidr } from '../model/cidr.js';
import type { Datastore } from '../datastore/types.js';
import { IpamHandle } from './handle.js';
import { HANDLES_PREFIX, affinitiesPrefix, blocksPrefix } from './keys.js';
import { decodeAffinityKv, decodeBlockKv } from './store.js';

export interface ConsistencyReport {
  violations: string[];
  blocks: number;
  addressesInUse: number;
  handles: number;
}

export async function checkConsistency(ds: Datastore): Promise<ConsistencyReport> {
  const violations: string[] = [];
  const blocks = (await ds.list(blocksPrefix())).items.map(decodeBlockKv);
  const affs = (await ds.list(affinitiesPrefix())).items.flatMap(
    (kv) => decodeAffinityKv(kv) ?? [],
  );
  const handleKvs = (await ds.list(HANDLES_PREFIX)).items;
  const actual = new Map<string, Map<string, number>>();
  let inUse = 0;
  for (const { block } of blocks) {
    const cidr = formatCidr(block.cidr);
    violations.push(...block.checkInvariants());
    for (const [h, n] of block.countsByHandle()) {
      inUse += n;
      if (h === null) {
        violations.push(`${cidr}: ${n} allocation(s) without a handle`);
        continue;
      }
      const m = actual.get(h) ?? new Map<string, number>();
      m.set(cidr, n);
      actual.set(h, m);
    }
    const owners = affs.filter((a) => formatCidr(a.cidr) === cidr && a.state === 'confirmed');
    const expected = block.host === null ? [] : [block.host];
    const got = owners.map((a) => a.node).sort();
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      violations.push(
        `${cidr}: block owner ${JSON.stringify(block.host)} but confirmed affinities ${JSON.stringify(got)}`,
      );
    }
  }
  for (const a of affs) {
    const b = blocks.find((x) => formatCidr(x.block.cidr) === formatCidr(a.cidr));
    if (b?.block.host !== a.node) {
      violations.push(
        `affinity ${a.key} (${a.state}) does not match its block (owner ${b?.block.host ?? 'none'})`,
      );
    }
  }
  const recorded = new Map<string, Map<string, number>>();
  for (const kv of handleKvs) {
    const h = IpamHandle.decode(kv.key.slice(HANDLES_PREFIX.length), kv.value);
    recorded.set(h.id, new Map(h.blocks));
  }
  for (const id of new Set([...recorded.keys(), ...actual.keys()])) {
    const r = JSON.stringify([...(recorded.get(id) ?? [])].sort());
    const a = JSON.stringify([...(actual.get(id) ?? [])].sort());
    if (r !== a) violations.push(`handle ${id}: records ${r} but blocks hold ${a}`);
  }
  return { violations, blocks: blocks.length, addressesInUse: inUse, handles: recorded.size };
}
