// Applying PolicyUpdate messages to a PolicyState: what a dataplane holds
// after them. Lenient (a message about something absent is ignored), for
// the dataplane's own record of what it wants; the tests use a strict
// version that fails on such messages.

import type { PolicySettings, PolicyState, PolicyUpdate } from './types.js';

export function emptyPolicyState(settings: PolicySettings): PolicyState {
  return {
    settings,
    sets: new Map(),
    ruleChains: new Map(),
    endpointChains: new Map(),
    endpoints: new Map(),
  };
}

export const DEFAULT_SETTINGS: PolicySettings = {
  defaultEndpointToHostAction: 'Drop',
  failsafeInbound: [],
  failsafeOutbound: [],
  denyAction: 'Drop',
  ipv6: false,
};

export function applyPolicyUpdates(state: PolicyState, msgs: readonly PolicyUpdate[]): void {
  for (const m of msgs) {
    switch (m.type) {
      case 'settings':
        state.settings = m.settings;
        break;
      case 'set-create':
        state.sets.set(m.spec.name, { spec: m.spec, elements: new Set() });
        break;
      case 'set-delta': {
        const set = state.sets.get(m.name);
        if (!set) break;
        const elements = ownElements(set);
        for (const e of m.remove) elements.delete(e);
        for (const e of m.add) elements.add(e);
        break;
      }
      case 'set-delete':
        state.sets.delete(m.name);
        break;
      case 'rule-chain':
        state.ruleChains.set(m.chain.chain, m.chain);
        break;
      case 'rule-chain-delete':
        state.ruleChains.delete(m.chain);
        break;
      case 'endpoint-chain':
        state.endpointChains.set(m.plan.chain, m.plan);
        break;
      case 'endpoint-chain-delete':
        state.endpointChains.delete(m.chain);
        break;
      case 'endpoint':
        state.endpoints.set(m.endpoint.iface, m.endpoint);
        break;
      case 'endpoint-delete':
        state.endpoints.delete(m.iface);
        break;
    }
  }
}

/**
 * Element sets two states share since a copy (copyPolicyState): whichever
 * changes one first takes its own copy (ownElements). A full write copies
 * the manager's record of what it wants (tens of thousands of elements),
 * and most sets never change before the next.
 */
const holders = new WeakMap<Set<string>, number>();

/** A state's set's elements, its own to change (copied first if another state holds them too). */
export function ownElements(set: { elements: Set<string> }): Set<string> {
  const n = holders.get(set.elements) ?? 1;
  if (n > 1) {
    holders.set(set.elements, n - 1);
    set.elements = new Set(set.elements);
  }
  return set.elements;
}

/** An independent copy (set elements shared until either side changes them). */
export function copyPolicyState(s: PolicyState): PolicyState {
  const sets: PolicyState['sets'] = new Map();
  for (const [k, v] of s.sets) {
    holders.set(v.elements, (holders.get(v.elements) ?? 1) + 1);
    sets.set(k, { spec: v.spec, elements: v.elements });
  }
  return {
    settings: s.settings,
    sets,
    ruleChains: new Map(s.ruleChains),
    endpointChains: new Map(s.endpointChains),
    endpoints: new Map(s.endpoints),
  };
}
