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
        for (const e of m.remove) set.elements.delete(e);
        for (const e of m.add) set.elements.add(e);
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

export function copyPolicyState(s: PolicyState): PolicyState {
  return {
    settings: s.settings,
    sets: new Map(
      [...s.sets].map(([k, v]) => [k, { spec: v.spec, elements: new Set(v.elements) }]),
    ),
    ruleChains: new Map(s.ruleChains),
    endpointChains: new Map(s.endpointChains),
    endpoints: new Map(s.endpoints),
  };
}
