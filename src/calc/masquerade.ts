// NAT outgoing, as Felix's masquerade manager sees it: two sets, every pool
// and the natOutgoing pools. Traffic from a natOutgoing pool to an address
// outside every pool is masqueraded; nothing else is. Disabled pools stay in
// both sets: their workloads may still be running.

import { formatCidr } from '../model/cidr.js';
import { sortedPools, type CalcIndex } from './index-state.js';
import type { MasqueradeSets } from './types.js';

export function masqueradeSets(index: CalcIndex): MasqueradeSets {
  const sets: MasqueradeSets = {
    allPoolsV4: [],
    natPoolsV4: [],
    allPoolsV6: [],
    natPoolsV6: [],
  };
  for (const pool of sortedPools(index)) {
    const cidr = formatCidr(pool.cidr);
    const v4 = pool.cidr.family === 4;
    const all = v4 ? sets.allPoolsV4 : sets.allPoolsV6;
    const nat = v4 ? sets.natPoolsV4 : sets.natPoolsV6;
    if (!all.includes(cidr)) all.push(cidr);
    if (pool.natOutgoing && !nat.includes(cidr)) nat.push(cidr);
  }
  return sets;
}
