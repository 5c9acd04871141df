// The policy calculation for one host, incremental: datastore updates in,
// PolicyUpdate messages out (types.ts), after Felix's calculation graph.
//
//   model (entities) ──► policy index: policy selector × this host's endpoints
//        │                   └─► endpoint plans (tiers ▸ policies, profiles), deduplicated
//        │                          └─► active rule chains (compiled rules) ──► selectors used
//        └──────────────► rule index: rule selector × every addressed entity
//                              └─► set contents (addresses, CIDR cover, named ports)
//
// Only what this host needs is computed: policies that select none of its
// endpoints are never compiled, and a selector has sets only while an active
// rule uses it (Felix's active rules calculator). An endpoint or label change
// touches the sets it is a member of, the selectors that could match its
// labels, and its own plan; it does not recompute anything else.
//
// Endpoint chains are content-addressed: endpoints with the same policies in
// a direction share one chain, so their number follows the number of
// distinct policy combinations, not of endpoints.

import { formatIP, tryParseIP } from '../../model/cidr.js';
import { ALL, type Selector } from '../../model/selector.js';
import { CidrCover, type CoverDelta } from './cidr-cover.js';
import { compileRules, type SetRefs } from './compile.js';
import { effectiveLabels, PolicyModel, NAMESPACE_PROFILE_PREFIX } from './model.js';
import { policySelector, SelectorIndex, selectorSetId, shortHash } from './selectors.js';
import type {
  AddressedEntity,
  Direction,
  EndpointChainPlan,
  HostEndpointEntity,
  IRRule,
  LocalEndpointPlan,
  PolicySettings,
  PolicyState,
  PolicyUpdate,
  RuleChain,
  SetRef,
  SetSpec,
  TierPlan,
  WorkloadEntity,
} from './types.js';
import { MAX_CHAIN_MARK, STAGE_CHAINS, type ChainStage } from './types.js';
import type { Resource, Rule } from '../../model/resource.js';

export interface PolicyCalcOptions {
  /** This host's Node name: its endpoints are the ones enforced. */
  nodeName: string;
}

const itemId = (e: AddressedEntity) =>
  e.kind === 'workload' ? `w:${e.key}` : e.kind === 'host' ? `h:${e.key}` : `n:${e.key}`;

/** A valid, unique nftables chain name for an id ("np/ns/name" -> "np_ns_name"). */
export function chainSlug(id: string): string {
  const slug = id.replace(/\//g, '_').replace(/[^a-zA-Z0-9._-]/g, '-');
  return slug.length <= 180 ? slug : `${slug.slice(0, 160)}-${shortHash(id)}`;
}

export function policyChainName(policyId: string, direction: Direction): string {
  return `${direction === 'ingress' ? 'pi' : 'po'}-${chainSlug(policyId)}`;
}

export function profileChainName(profile: string, direction: Direction): string {
  return `${direction === 'ingress' ? 'ri' : 'ro'}-${chainSlug(profile)}`;
}

interface SelectorState {
  id: string;
  /** Its sets' names (made once: they are looked up on every membership change). */
  names: { a4: string; a6: string; n4: string; n6: string };
  selector: Selector;
  /** Rule chains and named-port sets using it. */
  refs: number;
  a4: Map<string, number>;
  a6: Map<string, number>;
  n4: CidrCover;
  n6: CidrCover;
  namedPorts: Set<string>;
  /** Chains whose rules match addresses by it (it keeps addresses while there are any; recompiled when its nets flags flip). */
  users: Set<string>;
  compiledNets4: boolean;
  compiledNets6: boolean;
}

interface NamedPortState {
  id: string;
  selectorId: string;
  protocol: number;
  name: string;
  names: { p4: string; p6: string };
  refs: number;
  p4: Map<string, number>;
  p6: Map<string, number>;
}

interface ChainOwner {
  kind: 'policy' | 'profile';
  /** Policy id or profile name. */
  id: string;
  direction: Direction;
}

interface ActiveChain {
  owner: ChainOwner;
  refs: number;
  compiled: RuleChain | undefined;
  selectors: Set<string>;
  namedPorts: Set<string>;
}

interface EndpointChainState {
  plan: EndpointChainPlan;
  users: number;
  ruleChains: string[];
}

class DeltaLog {
  readonly sets = new Map<string, { add: Set<string>; remove: Set<string> }>();

  private of(name: string) {
    let d = this.sets.get(name);
    if (!d) this.sets.set(name, (d = { add: new Set(), remove: new Set() }));
    return d;
  }

  add(name: string, element: string): void {
    const d = this.of(name);
    if (!d.remove.delete(element)) d.add.add(element);
  }

  remove(name: string, element: string): void {
    const d = this.of(name);
    if (!d.add.delete(element)) d.remove.add(element);
  }
}

/** Counts a contribution; true when the element appears or disappears. */
function bump(map: Map<string, number>, key: string, by: 1 | -1): boolean {
  const have = map.get(key);
  if (have === undefined && by === -1) return false;
  const n = (have ?? 0) + by;
  if (n <= 0) {
    map.delete(key);
    return true;
  }
  map.set(key, n);
  return n === 1 && by === 1;
}

const FULL = { 4: 32, 6: 128 } as const;

/** An endpoint chain plan before it has a dispatch number. */
type PlanBody = Omit<EndpointChainPlan, 'mark'>;

interface MadePlan {
  plan: PlanBody;
  owners: Map<string, ChainOwner>;
}

/** An endpoint's chains: its policy, and a host endpoint's other stages where they apply. */
interface EndpointPlans {
  ingress: MadePlan;
  egress: MadePlan;
  stages: Partial<Record<(typeof STAGE_CHAINS)[number][0], MadePlan>>;
}

const STAGE_LETTER: Record<ChainStage, string> = {
  normal: '',
  forward: 'f',
  preDNAT: 'd',
  untracked: 'u',
};

export class PolicyCalc {
  readonly model = new PolicyModel();
  readonly nodeName: string;
  private readonly policyIndex: SelectorIndex;
  private readonly ruleIndex: SelectorIndex;
  /** Entities as the rule index knows them (their contributions are in the sets). */
  private readonly entities = new Map<string, AddressedEntity>();
  /** Effective labels last given to the indexes. */
  private readonly labelCache = new Map<string, Record<string, string>>();
  /** Endpoint chain plans by what decides them (policies, profiles), dropped when policy changes. */
  private readonly planMemo = new Map<string, EndpointPlans>();
  private readonly selectors = new Map<string, SelectorState>();
  private readonly namedPorts = new Map<string, NamedPortState>();
  private readonly chains = new Map<string, ActiveChain>();
  private readonly endpointChains = new Map<string, EndpointChainState>();
  private readonly endpoints = new Map<string, LocalEndpointPlan>();
  /** iface -> endpoint key, for what the dataplane holds. */
  private readonly ifaces = new Map<string, string>();
  private readonly liveSets = new Map<string, SetSpec>();
  private readonly dirtyEndpoints = new Set<string>();
  private readonly toCompile = new Set<string>();
  private deltas = new DeltaLog();
  private settings: PolicySettings | undefined;
  private emittedSettings = '';
  private changed = true;
  /** What the dataplane was last told, to send only differences. */
  private readonly emittedRuleChains = new Map<string, RuleChain>();
  private readonly liveEndpointChains = new Set<string>();
  private readonly emittedEndpoints = new Map<string, LocalEndpointPlan>();
  private readonly touchedRuleChains = new Set<string>();
  private readonly touchedEndpointChains = new Set<string>();
  private readonly touchedIfaces = new Set<string>();
  /**
   * Dispatch numbers of endpoint chains the calculation has or the dataplane
   * holds; a number is reused only once neither has its chain.
   */
  private readonly chainMarks = new Map<string, number>();
  /** Address -> the interface holding it (see setInterfaceAddresses). */
  private readonly ifaceOfAddress = new Map<string, string>();
  private interfaceAddressText = '';
  private readonly freeMarks: number[] = [];
  private nextMark = 1;

  constructor(opts: PolicyCalcOptions) {
    this.nodeName = opts.nodeName;
    this.policyIndex = new SelectorIndex({
      onMatch: (_p, item) => this.dirtyEndpoints.add(item),
      onUnmatch: (_p, item) => this.dirtyEndpoints.add(item),
    });
    this.ruleIndex = new SelectorIndex({
      onMatch: (sel, item) => this.contribute(sel, item, 1),
      onUnmatch: (sel, item) => this.contribute(sel, item, -1),
    });
  }

  /** Whether anything may have changed since the last drain(). */
  get dirty(): boolean {
    return this.changed;
  }

  /** Selector evaluations so far (benchmarks). */
  get evaluations(): number {
    return this.policyIndex.evaluations + this.ruleIndex.evaluations;
  }

  // -------------------------------------------------------------------------
  // Input

  /** A datastore update; returns whether the key is one the policy calculation reads. */
  onKv(key: string, value: string | undefined): boolean {
    const change = this.model.applyKv(key, value);
    if (!change) return false;
    if (change.changed) this.onChange(change.kind, change.key);
    return true;
  }

  onResource(resource: Resource, deleted = false): void {
    const change = this.model.applyResource(resource, deleted);
    if (change?.changed) this.onChange(change.kind, change.key);
  }

  private onChange(kind: string, key: string): void {
    this.changed = true;
    if (kind === 'policy' || kind === 'tier' || kind === 'profile') this.planMemo.clear();
    switch (kind) {
      case 'workload':
        this.updateEntity(`w:${key}`, this.model.workloads.get(key));
        break;
      case 'host':
        this.updateEntity(`h:${key}`, this.model.hostEndpoints.get(key));
        break;
      case 'netset':
        this.updateEntity(`n:${key}`, this.model.networkSets.get(key));
        break;
      case 'policy':
        this.updatePolicy(key);
        break;
      case 'profile':
        this.updateProfile(key);
        break;
      case 'tier':
        for (const k of this.localKeys()) this.dirtyEndpoints.add(k);
        break;
      case 'felix':
      case 'node':
        break;
    }
  }

  private isLocal(e: AddressedEntity | undefined): e is WorkloadEntity | HostEndpointEntity {
    if (!e || e.kind === 'netset' || e.node !== this.nodeName) return false;
    // A host endpoint needs an interface: its own, "*" (all the host's), or
    // (without interfaceName) the one that holds one of its expectedIPs.
    return e.kind === 'workload' || e.iface !== undefined || e.ipv4.length + e.ipv6.length > 0;
  }

  private *localKeys(): Iterable<string> {
    for (const [id, e] of this.entities) if (this.isLocal(e)) yield id;
  }

  private updateEntity(id: string, entity: AddressedEntity | undefined): void {
    const before = this.entities.get(id);
    if (!entity) {
      this.ruleIndex.deleteItem(id);
      this.entities.delete(id);
      this.labelCache.delete(id);
      if (this.isLocal(before)) {
        this.policyIndex.deleteItem(id);
        this.dirtyEndpoints.add(id);
      }
      return;
    }
    const labels = effectiveLabels(this.model, entity);
    if (before && this.ruleIndex.labelsOf(id)) {
      const same =
        JSON.stringify([addrsOf(before), portsOf(before)]) ===
        JSON.stringify([addrsOf(entity), portsOf(entity)]);
      if (!same) {
        for (const sel of this.ruleIndex.selectorsMatching(id)) this.contribute(sel, id, -1);
        this.entities.set(id, entity);
        for (const sel of this.ruleIndex.selectorsMatching(id)) this.contribute(sel, id, 1);
      }
    }
    this.entities.set(id, entity);
    if (!sameLabels(this.labelCache.get(id), labels)) {
      this.labelCache.set(id, labels);
      this.ruleIndex.setItem(id, labels);
      if (this.isLocal(entity)) this.policyIndex.setItem(id, labels);
    }
    if (this.isLocal(entity) && !this.policyIndex.labelsOf(id))
      this.policyIndex.setItem(id, labels);
    if (this.isLocal(before) && !this.isLocal(entity)) this.policyIndex.deleteItem(id);
    if (this.isLocal(before) || this.isLocal(entity)) this.dirtyEndpoints.add(id);
  }

  private updatePolicy(id: string): void {
    for (const item of this.policyIndex.members(id)) this.dirtyEndpoints.add(item);
    const policy = this.model.policies.get(id);
    if (!policy) {
      this.policyIndex.deleteSelector(id);
    } else {
      let selector: Selector;
      try {
        selector = policySelector(policy);
      } catch {
        // An unparsable selector selects nothing.
        this.policyIndex.deleteSelector(id);
        return;
      }
      this.policyIndex.setSelector(id, selector);
      for (const item of this.policyIndex.members(id)) this.dirtyEndpoints.add(item);
    }
    for (const direction of ['ingress', 'egress'] as const) {
      const chain = policyChainName(id, direction);
      if (this.chains.has(chain)) this.toCompile.add(chain);
    }
  }

  private updateProfile(name: string): void {
    // Labels it applies (and, for kns.<ns>, the namespace's labels) change entities' labels.
    const namespace = name.startsWith(NAMESPACE_PROFILE_PREFIX)
      ? name.slice(NAMESPACE_PROFILE_PREFIX.length)
      : undefined;
    for (const [id, e] of [...this.entities]) {
      const uses = e.kind !== 'netset' && e.profiles.includes(name);
      const inNamespace = namespace !== undefined && e.kind !== 'host' && e.namespace === namespace;
      if (uses || inNamespace) this.updateEntity(id, e);
      if (uses && this.isLocal(e)) this.dirtyEndpoints.add(id);
    }
    for (const direction of ['ingress', 'egress'] as const) {
      const chain = profileChainName(name, direction);
      if (this.chains.has(chain)) this.toCompile.add(chain);
    }
  }

  // -------------------------------------------------------------------------
  // Set contents

  private contribute(selectorId: string, item: string, by: 1 | -1): void {
    const state = this.selectors.get(selectorId);
    const entity = this.entities.get(item);
    if (!state || !entity) return;
    // Only a selector some rule matches addresses by keeps them (see addUser).
    if (state.users.size !== 0) this.contributeAddresses(state, entity, by);
    for (const npId of state.namedPorts) this.contributePorts(npId, entity, by);
  }

  private contributeAddresses(state: SelectorState, entity: AddressedEntity, by: 1 | -1): void {
    if (entity.kind === 'netset') {
      for (const cidr of entity.nets) {
        const slash = cidr.indexOf('/');
        const v6 = cidr.includes(':');
        const family = v6 ? 6 : 4;
        if (Number(cidr.slice(slash + 1)) === FULL[family]) {
          this.contributeAddress(state, family, cidr.slice(0, slash), by);
          continue;
        }
        const cover = v6 ? state.n6 : state.n4;
        const d: CoverDelta = { add: [], remove: [] };
        if (by === 1) cover.add(cidr, d);
        else cover.remove(cidr, d);
        const name = v6 ? state.names.n6 : state.names.n4;
        for (const x of d.add) this.delta(name, x, true);
        for (const x of d.remove) this.delta(name, x, false);
      }
    } else {
      for (const ip of entity.ipv4) this.contributeAddress(state, 4, ip, by);
      for (const ip of entity.ipv6) this.contributeAddress(state, 6, ip, by);
    }
  }

  /**
   * A rule chain matches addresses by the selector. The first such chain
   * brings in its members' addresses: a selector only named ports use (the
   * all() of a named port without a selector, say) keeps none, and has no
   * address sets.
   */
  private addUser(state: SelectorState, chain: string): void {
    if (state.users.has(chain)) return;
    if (state.users.size === 0) this.contributeMembers(state, 1);
    state.users.add(chain);
  }

  private removeUser(state: SelectorState, chain: string): void {
    if (!state.users.delete(chain) || state.users.size !== 0) return;
    this.contributeMembers(state, -1);
  }

  private contributeMembers(state: SelectorState, by: 1 | -1): void {
    for (const item of this.ruleIndex.members(state.id)) {
      const entity = this.entities.get(item);
      if (entity) this.contributeAddresses(state, entity, by);
    }
  }

  private contributeAddress(state: SelectorState, family: 4 | 6, ip: string, by: 1 | -1): void {
    const a = family === 4 ? state.a4 : state.a6;
    if (bump(a, ip, by)) this.delta(family === 4 ? state.names.a4 : state.names.a6, ip, by === 1);
  }

  private contributePorts(npId: string, entity: AddressedEntity, by: 1 | -1): void {
    const np = this.namedPorts.get(npId);
    if (!np || entity.kind === 'netset') return;
    for (const port of entity.ports) {
      if (port.name !== np.name || port.protocol !== np.protocol) continue;
      for (const [family, ips] of [
        [4, entity.ipv4],
        [6, entity.ipv6],
      ] as const) {
        const map = family === 4 ? np.p4 : np.p6;
        for (const ip of ips) {
          const element = `${ip} . ${port.protocol} . ${port.port}`;
          if (bump(map, element, by))
            this.delta(family === 4 ? np.names.p4 : np.names.p6, element, map.has(element));
        }
      }
    }
  }

  private delta(set: string, element: string, present: boolean): void {
    // A set the dataplane does not have yet is sent whole when it is created.
    if (!this.liveSets.has(set)) return;
    if (present) this.deltas.add(set, element);
    else this.deltas.remove(set, element);
  }

  // -------------------------------------------------------------------------
  // Selectors and named ports used by active chains

  private refSelector(selector: Selector): SelectorState {
    const id = selectorSetId(selector);
    let state = this.selectors.get(id);
    if (!state) {
      state = {
        id,
        names: { a4: `${id}-a4`, a6: `${id}-a6`, n4: `${id}-n4`, n6: `${id}-n6` },
        selector,
        refs: 0,
        a4: new Map(),
        a6: new Map(),
        n4: new CidrCover(),
        n6: new CidrCover(),
        namedPorts: new Set(),
        users: new Set(),
        compiledNets4: false,
        compiledNets6: false,
      };
      this.selectors.set(id, state);
      this.ruleIndex.setSelector(id, selector);
    }
    state.refs++;
    return state;
  }

  private unrefSelector(id: string): void {
    const state = this.selectors.get(id);
    if (!state || --state.refs > 0) return;
    this.ruleIndex.deleteSelector(id);
    this.selectors.delete(id);
  }

  private refNamedPort(
    selector: Selector | undefined,
    protocol: number,
    name: string,
  ): NamedPortState {
    const sel = selector ?? ALL;
    const selId = selectorSetId(sel);
    const id = namedPortId(sel, protocol, name);
    let np = this.namedPorts.get(id);
    if (!np) {
      const state = this.refSelector(sel);
      np = {
        id,
        selectorId: selId,
        protocol,
        name,
        names: { p4: `${id}-p4`, p6: `${id}-p6` },
        refs: 0,
        p4: new Map(),
        p6: new Map(),
      };
      this.namedPorts.set(id, np);
      state.namedPorts.add(id);
      for (const item of this.ruleIndex.members(selId)) {
        const e = this.entities.get(item);
        if (e) this.contributePorts(id, e, 1);
      }
    }
    np.refs++;
    return np;
  }

  private unrefNamedPort(id: string): void {
    const np = this.namedPorts.get(id);
    if (!np || --np.refs > 0) return;
    for (const element of np.p4.keys()) this.delta(`${id}-p4`, element, false);
    for (const element of np.p6.keys()) this.delta(`${id}-p6`, element, false);
    this.namedPorts.delete(id);
    this.selectors.get(np.selectorId)?.namedPorts.delete(id);
    this.unrefSelector(np.selectorId);
  }

  // -------------------------------------------------------------------------
  // Endpoint plans

  private plansFor(entity: WorkloadEntity | HostEndpointEntity, id: string): EndpointPlans {
    const matching = [...this.policyIndex.selectorsMatching(id)];
    if (matching.length > 1) matching.sort();
    const memoKey = `${entity.kind}|${matching.join(',')}|${entity.profiles.join(',')}`;
    let memo = this.planMemo.get(memoKey);
    if (!memo) {
      const stages: EndpointPlans['stages'] = {};
      if (entity.kind === 'host') {
        for (const [field, stage, direction] of STAGE_CHAINS) {
          const made = this.makePlan(entity, matching, direction, stage);
          if (made.plan.tiers.length) stages[field] = made;
        }
      }
      memo = {
        ingress: this.makePlan(entity, matching, 'ingress', 'normal'),
        egress: this.makePlan(entity, matching, 'egress', 'normal'),
        stages,
      };
      this.planMemo.set(memoKey, memo);
    }
    return memo;
  }

  /**
   * An endpoint chain plan: the policies of the stage that select the
   * endpoint and have the direction, by tier; for normal policy, then the
   * profiles. Forward plans take applyOnForward policies only.
   */
  private makePlan(
    entity: WorkloadEntity | HostEndpointEntity,
    matching: readonly string[],
    direction: Direction,
    stage: ChainStage,
  ): MadePlan {
    const owners = new Map<string, ChainOwner>();
    const byTier = new Map<
      string,
      { order: number; policies: { id: string; order: number | undefined; name: string }[] }
    >();
    const policyStage = stage === 'forward' ? 'normal' : stage;
    for (const pid of matching) {
      const p = this.model.policies.get(pid);
      if (!p || p.stage !== policyStage || !p.types.includes(direction)) continue;
      if (stage === 'forward' && !p.applyOnForward) continue;
      const tier = this.model.tier(p.tier);
      let entry = byTier.get(p.tier);
      if (!entry) byTier.set(p.tier, (entry = { order: tier.order, policies: [] }));
      entry.policies.push({ id: pid, order: p.order, name: p.name });
    }
    const tiers: TierPlan[] = [...byTier.entries()]
      .sort(([an, a], [bn, b]) => a.order - b.order || (an < bn ? -1 : an > bn ? 1 : 0))
      .map(([name, t]) => {
        const sorted = t.policies.sort(
          (a, b) =>
            (a.order ?? Infinity) - (b.order ?? Infinity) ||
            (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
        );
        const chains = sorted.map((p) => {
          const chain = policyChainName(p.id, direction);
          owners.set(chain, { kind: 'policy', id: p.id, direction });
          return chain;
        });
        return {
          tier: name,
          defaultAction: this.model.tier(name).defaultAction,
          chains,
          policies: sorted.map((p) => p.id),
        };
      });
    // Profiles are the default of an endpoint's own policy, not of the other stages.
    const profileNames =
      stage === 'normal'
        ? entity.profiles.filter((p, i, all) => all.indexOf(p) === i && this.model.profile(p))
        : [];
    const profiles = profileNames.map((name) => {
      const chain = profileChainName(name, direction);
      owners.set(chain, { kind: 'profile', id: name, direction });
      return chain;
    });
    const kind = STAGE_LETTER[stage] || (entity.kind === 'workload' ? 'w' : 'h');
    const body = { kind, direction, tiers, profiles };
    const chain = `${kind}${direction === 'ingress' ? 'i' : 'e'}-${shortHash(JSON.stringify(body))}`;
    return { plan: { chain, direction, stage, tiers, profiles, profileNames }, owners };
  }

  private useEndpointChain(plan: PlanBody, owners: Map<string, ChainOwner>): void {
    let state = this.endpointChains.get(plan.chain);
    if (!state) {
      let mark = this.chainMarks.get(plan.chain);
      if (mark === undefined) {
        mark = this.freeMarks.pop() ?? (this.nextMark <= MAX_CHAIN_MARK ? this.nextMark++ : 0);
        this.chainMarks.set(plan.chain, mark);
      }
      state = { plan: { ...plan, mark }, users: 0, ruleChains: [...owners.keys()] };
      this.endpointChains.set(plan.chain, state);
      this.touchedEndpointChains.add(plan.chain);
      for (const [chain, owner] of owners) {
        let active = this.chains.get(chain);
        if (!active) {
          active = {
            owner,
            refs: 0,
            compiled: undefined,
            selectors: new Set(),
            namedPorts: new Set(),
          };
          this.chains.set(chain, active);
          this.toCompile.add(chain);
        }
        active.refs++;
      }
    }
    state.users++;
  }

  private releaseEndpointChain(chain: string): void {
    const state = this.endpointChains.get(chain);
    if (!state || --state.users > 0) return;
    this.endpointChains.delete(chain);
    this.touchedEndpointChains.add(chain);
    for (const rc of state.ruleChains) {
      const active = this.chains.get(rc);
      if (active) active.refs--;
    }
  }

  private releaseEndpoint(plan: LocalEndpointPlan): void {
    this.releaseEndpointChain(plan.ingress);
    this.releaseEndpointChain(plan.egress);
    for (const [field] of STAGE_CHAINS) {
      const chain = plan[field];
      if (chain) this.releaseEndpointChain(chain);
    }
  }

  /**
   * The host's interfaces' addresses (name -> canonical addresses), for host
   * endpoints that give expectedIPs and no interfaceName: such an endpoint
   * is the interface that holds one of its addresses (the first, by name),
   * and none while no interface does.
   */
  setInterfaceAddresses(addresses: ReadonlyMap<string, readonly string[]>): void {
    const byName = [...addresses].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const text = JSON.stringify(byName);
    if (text === this.interfaceAddressText) return;
    this.interfaceAddressText = text;
    this.ifaceOfAddress.clear();
    for (const [iface, ips] of byName)
      for (const ip of ips) if (!this.ifaceOfAddress.has(ip)) this.ifaceOfAddress.set(ip, iface);
    for (const [id, e] of this.entities) {
      if (e.kind === 'host' && e.iface === undefined && this.isLocal(e)) {
        this.dirtyEndpoints.add(id);
        this.changed = true;
      }
    }
  }

  /** Whether a local host endpoint waits on setInterfaceAddresses (it has no interfaceName). */
  get needsInterfaceAddresses(): boolean {
    for (const e of this.model.hostEndpoints.values())
      if (e.node === this.nodeName && e.iface === undefined) return true;
    return false;
  }

  private ifaceOf(entity: WorkloadEntity | HostEndpointEntity): string | undefined {
    if (entity.iface !== undefined) return entity.iface;
    for (const ip of [...entity.ipv4, ...entity.ipv6]) {
      const iface = this.ifaceOfAddress.get(ip);
      if (iface !== undefined) return iface;
    }
    return undefined;
  }

  private recomputeEndpoint(id: string): void {
    const found = this.entities.get(id);
    const before = this.endpoints.get(id);
    // A host endpoint whose interface is not found is not enforced (yet).
    const entity = found && found.kind === 'host' && !this.ifaceOf(found) ? undefined : found;
    if (!this.isLocal(entity)) {
      if (before) {
        this.endpoints.delete(id);
        this.releaseEndpoint(before);
        if (this.ifaces.get(before.iface) === id) this.ifaces.delete(before.iface);
        this.touchedIfaces.add(before.iface);
      }
      return;
    }
    const { ingress, egress, stages } = this.plansFor(entity, id);
    this.useEndpointChain(ingress.plan, ingress.owners);
    this.useEndpointChain(egress.plan, egress.owners);
    const spoofable = entity.kind === 'workload' ? entity.allowSpoofedSourcePrefixes : [];
    const sources = (ips: string[], family: 4 | 6) => {
      const out = ips.map((ip) => `${ip}/${FULL[family]}`);
      if (spoofable.length === 0) return out; // ips are sorted and distinct
      out.push(...spoofable.filter((c) => c.includes(':') === (family === 6)));
      return [...new Set(out)].sort();
    };
    const plan: LocalEndpointPlan = {
      key: id.slice(2),
      kind: entity.kind,
      iface: this.ifaceOf(entity)!,
      ingress: ingress.plan.chain,
      egress: egress.plan.chain,
      sources4: sources(entity.ipv4, 4),
      sources6: sources(entity.ipv6, 6),
    };
    for (const [field] of STAGE_CHAINS) {
      const made = stages[field];
      if (!made) continue;
      this.useEndpointChain(made.plan, made.owners);
      plan[field] = made.plan.chain;
    }
    if (before) {
      this.releaseEndpoint(before);
      if (before.iface !== plan.iface && this.ifaces.get(before.iface) === id) {
        this.ifaces.delete(before.iface);
      }
      this.touchedIfaces.add(before.iface);
    }
    this.endpoints.set(id, plan);
    this.ifaces.set(plan.iface, id);
    this.touchedIfaces.add(plan.iface);
  }

  // -------------------------------------------------------------------------
  // Rule chains

  private compileChain(name: string, active: ActiveChain): void {
    const { owner } = active;
    const used = new Set<string>();
    const usedPorts = new Set<string>();
    const refs: SetRefs = {
      selector: (selector) => {
        const id = selectorSetId(selector);
        let s = this.selectors.get(id);
        if (!used.has(id)) {
          s = this.refSelector(selector);
          const first = s.users.size === 0;
          this.addUser(s, name);
          if (first) {
            // Its addresses arrived with its first user: its nets flags follow them.
            s.compiledNets4 = s.n4.size > 0;
            s.compiledNets6 = this.ipv6 && s.n6.size > 0;
          }
          used.add(id);
        }
        return { id, nets4: s!.compiledNets4, nets6: s!.compiledNets6 } satisfies SetRef;
      },
      namedPort: (selector, protocol, portName) => {
        const id = namedPortId(selector ?? ALL, protocol, portName);
        if (!usedPorts.has(id)) {
          this.refNamedPort(selector, protocol, portName);
          usedPorts.add(id);
        }
        return id;
      },
    };
    let rules: IRRule[] = [];
    let display = owner.id;
    let tier: string | undefined;
    if (owner.kind === 'policy') {
      const p = this.model.policies.get(owner.id);
      if (p) {
        rules = safeCompile(p[owner.direction], p.namespace, refs);
        display = p.name;
        tier = p.tier;
      }
    } else {
      const p = this.model.profile(owner.id);
      if (p) rules = safeCompile(p[owner.direction], undefined, refs);
    }
    // Release what the previous compilation used (after taking the new references).
    for (const s of active.selectors) {
      const state = this.selectors.get(s);
      if (state && !used.has(s)) this.removeUser(state, name);
      this.unrefSelector(s);
    }
    for (const np of active.namedPorts) this.unrefNamedPort(np);
    active.selectors = used;
    active.namedPorts = usedPorts;
    const chain: RuleChain = {
      chain: name,
      owner: owner.kind === 'policy' ? owner.id : `pro/${owner.id}`,
      name: display,
      tier,
      direction: owner.direction,
      rules,
    };
    active.compiled = chain;
    this.touchedRuleChains.add(name);
  }

  private releaseChain(name: string, active: ActiveChain): void {
    for (const s of active.selectors) {
      const state = this.selectors.get(s);
      if (state) this.removeUser(state, name);
      this.unrefSelector(s);
    }
    for (const np of active.namedPorts) this.unrefNamedPort(np);
    this.chains.delete(name);
    this.touchedRuleChains.add(name);
  }

  private get ipv6(): boolean {
    return this.settings?.ipv6 ?? false;
  }

  // -------------------------------------------------------------------------
  // Output

  /** The changes since the last drain, in an order the dataplane can apply them. */
  drain(): PolicyUpdate[] {
    const msgs: PolicyUpdate[] = [];
    const settings = this.model.settings(this.nodeName);
    const settingsText = JSON.stringify(settings);
    if (settingsText !== this.emittedSettings) {
      const ipv6Flip = this.settings !== undefined && this.settings.ipv6 !== settings.ipv6;
      this.settings = settings;
      this.emittedSettings = settingsText;
      msgs.push({ type: 'settings', settings });
      if (ipv6Flip) for (const name of this.chains.keys()) this.toCompile.add(name);
    }
    for (const id of this.dirtyEndpoints) this.recomputeEndpoint(id);
    this.dirtyEndpoints.clear();
    // Compile what became active or changed, until the sets' shapes are stable.
    for (let round = 0; round < 4; round++) {
      for (const name of [...this.toCompile]) {
        const active = this.chains.get(name);
        if (active && active.refs > 0) this.compileChain(name, active);
      }
      this.toCompile.clear();
      for (const s of this.selectors.values()) {
        const n4 = s.n4.size > 0;
        const n6 = this.ipv6 && s.n6.size > 0;
        if (n4 !== s.compiledNets4 || n6 !== s.compiledNets6) {
          s.compiledNets4 = n4;
          s.compiledNets6 = n6;
          for (const user of s.users) this.toCompile.add(user);
        }
      }
      if (this.toCompile.size === 0) break;
    }
    for (const [name, active] of [...this.chains]) {
      if (active.refs <= 0) this.releaseChain(name, active);
    }
    // Sets: which the rules need now, against what the dataplane holds.
    const wanted = this.wantedSets();
    const creates: SetSpec[] = [];
    const deletes: string[] = [];
    for (const [name, spec] of wanted) {
      if (!this.liveSets.has(name)) creates.push(spec);
    }
    for (const name of this.liveSets.keys()) if (!wanted.has(name)) deletes.push(name);
    const created = new Map<string, string[]>();
    for (const spec of creates) {
      this.liveSets.set(spec.name, spec);
      msgs.push({ type: 'set-create', spec });
      // A new set starts from its full contents, whatever the log says.
      created.set(spec.name, this.setElements(spec));
    }
    for (const name of deletes) this.liveSets.delete(name);
    for (const [name, add] of created) {
      if (add.length) msgs.push({ type: 'set-delta', name, add, remove: [] });
    }
    for (const [name, d] of this.deltas.sets) {
      if (!this.liveSets.has(name) || created.has(name)) continue;
      if (d.add.size === 0 && d.remove.size === 0) continue;
      msgs.push({ type: 'set-delta', name, add: [...d.add].sort(), remove: [...d.remove].sort() });
    }
    this.deltas = new DeltaLog();
    const ruleChainDeletes: string[] = [];
    for (const name of this.touchedRuleChains) {
      const compiled = this.chains.get(name)?.compiled;
      if (compiled) {
        // A recompiled chain that came out the same is not sent again.
        const before = this.emittedRuleChains.get(name);
        if (
          !before ||
          (before !== compiled && JSON.stringify(before) !== JSON.stringify(compiled))
        ) {
          this.emittedRuleChains.set(name, compiled);
          msgs.push({ type: 'rule-chain', chain: compiled });
        }
      } else if (this.emittedRuleChains.delete(name)) {
        ruleChainDeletes.push(name);
      }
    }
    const endpointChainDeletes: string[] = [];
    for (const name of this.touchedEndpointChains) {
      const state = this.endpointChains.get(name);
      if (state && !this.liveEndpointChains.has(name)) {
        this.liveEndpointChains.add(name);
        msgs.push({ type: 'endpoint-chain', plan: state.plan });
      } else if (!state && this.liveEndpointChains.delete(name)) {
        endpointChainDeletes.push(name);
      }
      if (!state && !this.liveEndpointChains.has(name)) {
        const mark = this.chainMarks.get(name);
        this.chainMarks.delete(name);
        if (mark) this.freeMarks.push(mark);
      }
    }
    const endpointDeletes: PolicyUpdate[] = [];
    for (const iface of this.touchedIfaces) {
      const id = this.ifaces.get(iface);
      const plan = id === undefined ? undefined : this.endpoints.get(id);
      const emitted = this.emittedEndpoints.get(iface);
      if (plan) {
        if (!emitted || !sameEndpoint(emitted, plan)) {
          this.emittedEndpoints.set(iface, plan);
          msgs.push({ type: 'endpoint', endpoint: plan });
        }
      } else if (emitted) {
        this.emittedEndpoints.delete(iface);
        endpointDeletes.push({ type: 'endpoint-delete', iface, kind: emitted.kind });
      }
    }
    msgs.push(...endpointDeletes);
    for (const chain of endpointChainDeletes) msgs.push({ type: 'endpoint-chain-delete', chain });
    for (const chain of ruleChainDeletes) msgs.push({ type: 'rule-chain-delete', chain });
    for (const name of deletes) msgs.push({ type: 'set-delete', name });
    this.touchedRuleChains.clear();
    this.touchedEndpointChains.clear();
    this.touchedIfaces.clear();
    this.changed = false;
    return msgs;
  }

  private wantedSets(): Map<string, SetSpec> {
    const out = new Map<string, SetSpec>();
    const add = (name: string, family: 4 | 6, kind: SetSpec['kind']) =>
      out.set(name, { name, family, kind });
    for (const s of this.selectors.values()) {
      // A selector only named ports use (their "all()", say) needs no address sets.
      if (s.users.size === 0) continue;
      add(`${s.id}-a4`, 4, 'addr');
      if (s.compiledNets4) add(`${s.id}-n4`, 4, 'net');
      if (this.ipv6) {
        add(`${s.id}-a6`, 6, 'addr');
        if (s.compiledNets6) add(`${s.id}-n6`, 6, 'net');
      }
    }
    for (const np of this.namedPorts.values()) {
      add(`${np.id}-p4`, 4, 'port');
      if (this.ipv6) add(`${np.id}-p6`, 6, 'port');
    }
    return out;
  }

  private setElements(spec: SetSpec): string[] {
    const dash = spec.name.lastIndexOf('-');
    const id = spec.name.slice(0, dash);
    if (spec.kind === 'port') {
      const np = this.namedPorts.get(id);
      return np ? [...(spec.family === 4 ? np.p4 : np.p6).keys()] : [];
    }
    const s = this.selectors.get(id);
    if (!s) return [];
    if (spec.kind === 'addr') return [...(spec.family === 4 ? s.a4 : s.a6).keys()];
    return (spec.family === 4 ? s.n4 : s.n6).elements();
  }

  /**
   * The whole current state, as of the last drain (call drain() first):
   * what a dataplane that applied every drained message holds.
   */
  snapshot(): PolicyState {
    const sets = new Map<string, { spec: SetSpec; elements: Set<string> }>();
    for (const [name, spec] of this.liveSets) {
      sets.set(name, { spec, elements: new Set(this.setElements(spec)) });
    }
    const ruleChains = new Map<string, RuleChain>();
    for (const [name, active] of this.chains)
      if (active.compiled) ruleChains.set(name, active.compiled);
    const endpointChains = new Map<string, EndpointChainPlan>();
    for (const [name, state] of this.endpointChains) endpointChains.set(name, state.plan);
    const endpoints = new Map<string, LocalEndpointPlan>();
    for (const [iface, id] of this.ifaces) {
      const plan = this.endpoints.get(id);
      if (plan) endpoints.set(iface, plan);
    }
    return {
      settings: this.settings ?? this.model.settings(this.nodeName),
      sets,
      ruleChains,
      endpointChains,
      endpoints,
    };
  }

  /** Rule chain and policy names, for explain and counters. */
  ruleChain(name: string): RuleChain | undefined {
    return this.chains.get(name)?.compiled;
  }
}

function namedPortId(selector: Selector, protocol: number, name: string): string {
  return `p${shortHash(`${selectorSetId(selector)}|${protocol}|${name}`)}`;
}

function safeCompile(rules: readonly Rule[], ns: string | undefined, refs: SetRefs): IRRule[] {
  const out: IRRule[] = [];
  rules.forEach((rule, i) => {
    try {
      out.push(...compileRules([rule], ns, refs).map((r) => ({ ...r, index: i })));
    } catch (err) {
      // A rule with an unparsable selector never matches.
      out.push({
        index: i,
        action: 'deny',
        ipVersion: undefined,
        protocol: undefined,
        notProtocol: undefined,
        icmp: undefined,
        notIcmp: undefined,
        src: emptyMatch(),
        dst: emptyMatch(),
        unsupported: `cannot compile: ${(err as Error).message}`,
      });
    }
  });
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameEndpoint(a: LocalEndpointPlan, b: LocalEndpointPlan): boolean {
  return (
    a.key === b.key &&
    a.kind === b.kind &&
    a.iface === b.iface &&
    a.ingress === b.ingress &&
    a.egress === b.egress &&
    STAGE_CHAINS.every(([field]) => a[field] === b[field]) &&
    sameList(a.sources4, b.sources4) &&
    sameList(a.sources6, b.sources6)
  );
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  if (!a) return false;
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

function emptyMatch() {
  return {
    nets: [],
    notNets: [],
    selector: undefined,
    notSelector: undefined,
    ports: [],
    namedPorts: [],
    notPorts: [],
    notNamedPorts: [],
  };
}

/** An entity's addresses as CIDRs, by family ("10.0.0.1/32", "10.1.0.0/16"). */
export function addrsOf(e: AddressedEntity): { v4: string[]; v6: string[] } {
  if (e.kind === 'netset') {
    return {
      v4: e.nets.filter((n) => !n.includes(':')),
      v6: e.nets.filter((n) => n.includes(':')),
    };
  }
  return { v4: e.ipv4.map((ip) => `${ip}/32`), v6: e.ipv6.map((ip) => `${ip}/128`) };
}

function portsOf(e: AddressedEntity) {
  return e.kind === 'netset' ? [] : e.ports;
}

/** Canonical address text, or undefined. */
export function canonicalIP(text: string): string | undefined {
  const ip = tryParseIP(text);
  return ip ? formatIP(ip) : undefined;
}
