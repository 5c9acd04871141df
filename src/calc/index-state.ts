// The calculation's only memory: the current value of every key it uses,
// decoded. Each index holds exactly the keys that are present and valid, so
// any order of updates that ends in the same datastore ends in the same
// indexes.

import { cidrContainsCidr, compareCidr, type Cidr } from '../model/cidr.js';
import type {
  BgpConfigFact,
  BgpPeerFact,
  BlockFact,
  EndpointFact,
  FelixFact,
  NodeFact,
  PoolFact,
} from './decode.js';
import type { BgpMode } from './types.js';

export interface CalcIndex {
  readonly nodeName: string;
  readonly kernelHasIpip: boolean;
  readonly pools: ReadonlyMap<string, PoolFact>;
  readonly nodes: ReadonlyMap<string, NodeFact>;
  /** This host's endpoints only. */
  readonly localEndpoints: ReadonlyMap<string, EndpointFact>;
  readonly blocks: ReadonlyMap<string, BlockFact>;
  /** "default" and "node.<this host>" only. */
  readonly felix: ReadonlyMap<string, FelixFact>;
  /** Keys whose value could not be decoded, with the reason. */
  readonly invalid: ReadonlyMap<string, string>;
  /** The BGP node option. */
  readonly bgpMode: BgpMode;
  /** Every BGPConfiguration ("default", "node.<name>"), by name. */
  readonly bgpConfigs: ReadonlyMap<string, BgpConfigFact>;
  readonly bgpPeers: ReadonlyMap<string, BgpPeerFact>;
}

/** The most specific pool holding the block; ties go to the name that sorts first. */
export function poolOf(index: CalcIndex, block: Cidr): PoolFact | undefined {
  let best: PoolFact | undefined;
  for (const pool of index.pools.values()) {
    if (!cidrContainsCidr(pool.cidr, block)) continue;
    if (
      !best ||
      pool.cidr.prefixLength > best.cidr.prefixLength ||
      (pool.cidr.prefixLength === best.cidr.prefixLength && pool.name < best.name)
    ) {
      best = pool;
    }
  }
  return best;
}

/** Pools sorted by CIDR then name, so every walk over them is deterministic. */
export function sortedPools(index: CalcIndex): PoolFact[] {
  return [...index.pools.values()].sort(
    (a, b) => compareCidr(a.cidr, b.cidr) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

export function localNode(index: CalcIndex): NodeFact | undefined {
  return index.nodes.get(index.nodeName);
}
