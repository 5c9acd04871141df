import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyCalc } from '../../calc/policy/calc.js';
import { selectorSetId } from '../../calc/policy/selectors.js';
import { ALL } from '../../model/selector.js';
import { copyPolicyState, emptyPolicyState } from '../../calc/policy/state.js';
import {
  globalPolicy,
  hostEndpoint,
  hostStagePolicies,
  networkPolicy,
} from '../../calc/policy/test-support/fixtures.js';
import {
  baseResources,
  NODES,
  POD_LIST,
  podWithLabels,
  SCENARIOS,
} from '../../calc/policy/test-support/scenarios.js';
import type {
  EndpointChainPlan,
  IRRule,
  PolicySettings,
  RuleChain,
} from '../../calc/policy/types.js';
import type { Resource } from '../../model/resource.js';
import {
  renderEndpointChainBody,
  renderFull,
  renderRule,
  renderUpdates,
  tailChain,
} from './render.js';

const SETTINGS: PolicySettings = {
  defaultEndpointToHostAction: 'Drop',
  failsafeInbound: [],
  failsafeOutbound: [],
  denyAction: 'Drop',
  ipv6: false,
};

function stateOf(resources: Resource[], node: string = NODES[0]) {
  const calc = new PolicyCalc({ nodeName: node });
  for (const r of resources) calc.onResource(r);
  calc.drain();
  return { calc, state: calc.snapshot() };
}

const match = (over: Partial<IRRule['src']> = {}): IRRule['src'] => ({
  nets: [],
  notNets: [],
  selector: undefined,
  notSelector: undefined,
  ports: [],
  namedPorts: [],
  notPorts: [],
  notNamedPorts: [],
  ...over,
});

const rule = (over: Partial<IRRule>): IRRule => ({
  index: 0,
  action: 'allow',
  ipVersion: undefined,
  protocol: undefined,
  notProtocol: undefined,
  icmp: undefined,
  notIcmp: undefined,
  src: match(),
  dst: match(),
  unsupported: undefined,
  ...over,
});

const chain: RuleChain = {
  chain: 'pi-np_x_p',
  owner: 'np/x/p',
  name: 'x/p',
  tier: 'default',
  direction: 'ingress',
  rules: [],
};

describe('nftables rendering', () => {
  it('renders a rule per combination of alternatives, each with a counter and its comment', () => {
    const lines = renderRule(
      chain,
      rule({
        index: 3,
        protocol: 6,
        src: match({
          selector: { id: 'sabc', nets4: true, nets6: false },
          notNets: ['10.1.0.0/16'],
        }),
        dst: match({
          ports: [
            { min: 80, max: 80 },
            { min: 90, max: 99 },
          ],
          namedPorts: ['pdef'],
        }),
      }),
      SETTINGS,
    );
    assert.equal(lines.length, 6); // 2 selector sets × 3 port alternatives
    for (const l of lines) {
      assert.match(l, /^meta l4proto 6 ip saddr != 10\.1\.0\.0\/16 ip saddr @sabc-[an]4 /);
      assert.match(l, / counter goto allow comment "rule 3: x\/p ingress"$/);
    }
    assert.ok(lines.some((l) => l.includes('th dport 90-99')));
    assert.ok(lines.some((l) => l.includes('ip daddr . meta l4proto . th dport @pdef-p4')));
  });

  it('renders Deny, Pass, Log, ICMP and notICMP, and nothing for a rule that cannot match', () => {
    assert.deepEqual(renderRule(chain, rule({ action: 'deny' }), SETTINGS), [
      'counter drop comment "rule 0: x/p ingress"',
    ]);
    assert.deepEqual(
      renderRule(chain, rule({ action: 'deny' }), { ...SETTINGS, denyAction: 'Reject' }),
      ['counter reject comment "rule 0: x/p ingress"'],
    );
    assert.match(renderRule(chain, rule({ action: 'pass' }), SETTINGS)[0]!, /counter goto pass/);
    assert.match(
      renderRule(chain, rule({ action: 'log' }), SETTINGS)[0]!,
      /counter log prefix "calico-packet: " level info/,
    );
    assert.deepEqual(
      renderRule(chain, rule({ protocol: 1, icmp: { type: 8, code: 0 } }), SETTINGS).map(
        (l) => l.split(' counter')[0],
      ),
      ['meta l4proto 1 icmp type 8 icmp code 0'],
    );
    assert.deepEqual(
      renderRule(chain, rule({ protocol: 1, notIcmp: { type: 8, code: 0 } }), SETTINGS).map(
        (l) => l.split(' counter')[0],
      ),
      ['meta l4proto 1 icmp type != 8', 'meta l4proto 1 icmp type 8 icmp code != 0'],
    );
    // IPv6-only nets in an IPv4-only dataplane; an unsupported match.
    assert.deepEqual(renderRule(chain, rule({ src: match({ nets: ['fd00::/8'] }) }), SETTINGS), []);
    assert.deepEqual(renderRule(chain, rule({ unsupported: 'http' }), SETTINGS), []);
  });

  it('an endpoint chain: tiers with the pass mark, end-of-tier drops, profiles, one return, final drop', () => {
    const plan: EndpointChainPlan = {
      chain: 'wi-1',
      direction: 'ingress',
      tiers: [
        {
          tier: 'security',
          defaultAction: 'Deny',
          chains: ['pi-a', 'pi-b'],
          policies: ['a', 'b'],
        },
        { tier: 'default', defaultAction: 'Pass', chains: ['pi-c'], policies: ['c'] },
      ],
      profiles: ['ri-kns.x'],
      profileNames: ['kns.x'],
      mark: 1,
      stage: 'normal',
    };
    const body = renderEndpointChainBody(plan, SETTINGS);
    assert.deepEqual(body, [
      'jump pi-a',
      'meta mark & 0x00030000 == 0 jump pi-b',
      'meta mark & 0x00030000 == 0 counter drop comment "end of tier security"',
      'meta mark set meta mark & 0xfffdffff',
      'meta mark & 0x00030000 == 0 jump pi-c',
      `goto ${tailChain(plan)}`,
    ]);
    // The end is shared by every chain with these profiles.
    const { rules } = renderFull({
      ...emptyPolicyState(SETTINGS),
      endpointChains: new Map([[plan.chain, plan]]),
    });
    const tail = rules.split('\n').filter((l) => l.includes(` ${tailChain(plan)} `));
    assert.deepEqual(
      tail.map((l) => l.replace(/^add rule inet tortie-policy \S+ /, '')),
      [
        'meta mark & 0x00010000 == 0 jump ri-kns.x',
        'meta mark & 0x00010000 == 0x00010000 return',
        'counter drop comment "no profile allowed it"',
      ],
    );
  });

  it("the last tier's end-of-tier drop opens the shared tail: one rule per endpoint chain fewer", () => {
    const plan = (chain: string, tier: string): EndpointChainPlan => ({
      chain,
      direction: 'egress',
      tiers: [{ tier, defaultAction: 'Deny', chains: [`po-${chain}`], policies: [chain] }],
      profiles: ['ro-kns.x'],
      profileNames: ['kns.x'],
      mark: 1,
      stage: 'normal',
    });
    const a = plan('we-a', 'default');
    const b = plan('we-b', 'default');
    const c = plan('we-c', 'security');
    assert.deepEqual(renderEndpointChainBody(a, SETTINGS), [
      'jump po-we-a',
      `goto ${tailChain(a)}`,
    ]);
    assert.equal(tailChain(a), tailChain(b));
    assert.notEqual(tailChain(a), tailChain(c));
    const { rules } = renderFull({
      ...emptyPolicyState(SETTINGS),
      endpointChains: new Map([a, b, c].map((p) => [p.chain, p])),
    });
    const bodyOf = (tail: string) =>
      rules
        .split('\n')
        .filter((l) => l.startsWith(`add rule inet tortie-policy ${tail} `))
        .map((l) => l.replace(/^add rule inet tortie-policy \S+ /, ''));
    assert.deepEqual(bodyOf(tailChain(a)), [
      'meta mark & 0x00030000 == 0 counter drop comment "end of tier default"',
      'meta mark & 0x00010000 == 0 jump ro-kns.x',
      'meta mark & 0x00010000 == 0x00010000 return',
      'counter drop comment "no profile allowed it"',
    ]);
    assert.equal(
      bodyOf(tailChain(c))[0],
      'meta mark & 0x00030000 == 0 counter drop comment "end of tier security"',
    );
    // One tail chain each for a and b together, and for c.
    assert.equal(
      rules.split('\n').filter((l) => /^add chain inet tortie-policy te-/.test(l)).length,
      2,
    );
  });

  it('declares only sets some rule looks up (a named port without a selector adds no address set)', () => {
    const unused = (resources: Resource[]) => {
      const { sets, rules } = renderFull(stateOf(resources).state);
      const declared = [...sets.matchAll(/^add (?:set|map) inet tortie-policy (\S+) /gm)].map(
        (m) => m[1]!,
      );
      const looked = new Set([...rules.matchAll(/@([\w.-]+)/g)].map((m) => m[1]!));
      // The skeleton's maps of host endpoints' preDNAT and untracked-egress
      // stages exist always; their base chains are hooked only while needed.
      const stageMaps = new Set(['hep-dnat-in', 'hep-raw-out']);
      return declared.filter((name) => !looked.has(name) && !stageMaps.has(name));
    };
    for (const sc of SCENARIOS) {
      assert.deepEqual(unused([...baseResources(), ...sc.resources]), [], sc.name);
    }
    // The all() the named ports use gets its address set, with every member,
    // once a rule matches addresses by all() too.
    const named = SCENARIOS.find((sc) => sc.name === 'named-ports')!.resources;
    const byAll = globalPolicy('from-all', {
      selector: "projectcalico.org/namespace == 'y'",
      ingress: [{ action: 'Allow', source: { selector: 'all()' } }],
      types: ['Ingress'],
    });
    const calc = new PolicyCalc({ nodeName: NODES[0] });
    for (const r of [...baseResources(), ...named]) calc.onResource(r);
    calc.drain();
    const before = calc.snapshot().sets.size;
    calc.onResource(byAll);
    const created = calc.drain().filter((m) => m.type === 'set-create' || m.type === 'set-delta');
    const state = calc.snapshot();
    assert.equal(state.sets.size, before + 1);
    assert.deepEqual(unused([...baseResources(), ...named, byAll]), []);
    const all = state.sets.get(`${selectorSetId(ALL)}-a4`);
    assert.equal(all?.elements.size, POD_LIST.length, JSON.stringify(created));
  });

  it('declares the sets most rules look up first (the kernel finds a set by walking the list)', () => {
    const resources = [...baseResources()];
    for (const sc of SCENARIOS) resources.push(...sc.resources);
    const { state } = stateOf(resources);
    const lookups = new Map<string, number>();
    for (const chain of state.ruleChains.values())
      for (const r of chain.rules)
        for (const m of [r.src, r.dst])
          for (const id of [m.selector?.id, m.notSelector?.id, ...m.namedPorts, ...m.notNamedPorts])
            if (id) lookups.set(id, (lookups.get(id) ?? 0) + 1);
    const { sets } = renderFull(state);
    const counts = [...sets.matchAll(/^add set inet tortie-policy ([sp]\w+)-[anp][46] /gm)].map(
      (m) => lookups.get(m[1]!) ?? 0,
    );
    assert.ok(new Set(counts).size > 1, `lookups per set: ${counts.join(' ')}`);
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => b - a),
    );
  });

  it('the full table: skeleton, sets, chains, dispatch maps and anti-spoofing elements, no anonymous sets', () => {
    const { state } = stateOf([
      ...baseResources(),
      ...SCENARIOS.find((s) => s.name === 'named-ports')!.resources,
    ]);
    const { sets, rules } = renderFull(state);
    assert.match(
      sets,
      /^add table inet tortie-policy\ndelete table inet tortie-policy\nadd table inet tortie-policy\n/,
    );
    for (const hook of [
      'prerouting priority raw',
      'forward priority filter',
      'input priority filter',
      'output priority filter',
    ]) {
      assert.ok(rules.includes(`hook ${hook}`), hook);
    }
    const xa = POD_LIST.find((p) => p.id === 'x/a')!;
    // The interface maps to its chains' dispatch numbers (egress in bits 18-31,
    // ingress in bits 0-13), each number to its chain.
    const ep = state.endpoints.get(xa.iface)!;
    const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
    const ingress = state.endpointChains.get(ep.ingress)!.mark;
    const egress = (state.endpointChains.get(ep.egress)!.mark << 18) >>> 0;
    assert.ok(sets.includes(`"${xa.iface}" : ${hex(egress | ingress)}`));
    assert.ok(rules.includes(`${hex(ingress)} : jump ${ep.ingress}`));
    assert.ok(rules.includes(`${hex(egress)} : jump ${ep.egress}`));
    assert.ok(
      sets.includes(`add element inet tortie-policy wl-src4 { "${xa.iface}" . ${xa.ip}`) ||
        sets.includes(`"${xa.iface}" . ${xa.ip}`),
    );
    for (const line of (sets + rules).split('\n')) {
      if (/^add (rule|chain)/.test(line))
        assert.ok(
          !/[{}]/.test(line.replace(/\{ type filter hook[^}]*\}/, '')),
          `anonymous set in: ${line}`,
        );
    }
  });

  it('an incremental update renders only what changed, and advances the state it renders against', () => {
    // x/a stops being selected by the "pod == 'a'" policy of this scenario.
    const resources = [
      ...baseResources(),
      ...SCENARIOS.find((s) => s.name === 'ports-and-ranges')!.resources,
    ];
    const { calc, state } = stateOf(resources);
    const have = copyPolicyState(state);
    const xa = POD_LIST.find((p) => p.id === 'x/a')!;
    calc.onResource(podWithLabels('x/a', { pod: 'b' }));
    const { script, full } = renderUpdates(have, calc.drain());
    assert.equal(full, false);
    const lines = script.trim().split('\n');
    assert.ok(
      lines.every(
        (l) =>
          /^(add|delete) element /.test(l) ||
          /^(add|delete) chain /.test(l) ||
          /^add rule /.test(l),
      ),
      script,
    );
    assert.ok(
      lines.some((l) => l.startsWith(`delete element inet tortie-policy wl { "${xa.iface}" }`)),
      script,
    );
    assert.ok(!lines.some((l) => l.startsWith('delete table') || l.startsWith('flush')), script);
    const policy = networkPolicy('z', 'allow-b', {
      selector: 'all()',
      ingress: [{ action: 'Allow', source: { selector: "pod == 'c'" } }],
      types: ['Ingress'],
    });
    calc.onResource(policy);
    assert.match(
      renderUpdates(have, calc.drain()).script,
      /add chain inet tortie-policy pi-np_z_allow-b\n/,
    );
    calc.onResource({ ...policy, spec: { ...policy.spec, ingress: [{ action: 'Deny' }] } });
    const changed = renderUpdates(have, calc.drain()).script;
    assert.match(changed, /flush chain inet tortie-policy pi-np_z_allow-b\n/);
  });

  it("hooks a stage's base chain only while some host endpoint has it; established leaves each at its first rule", () => {
    const base = [
      ...baseResources(),
      ...SCENARIOS.find((s) => s.name === 'default-deny-ingress')!.resources,
    ];
    const { calc, state } = stateOf(base);
    const hookChains = (rules: string) =>
      [...rules.matchAll(/^add chain inet tortie-policy ([\w-]+) \{ type filter hook/gm)].map(
        (m) => m[1],
      );
    const firstRule = (rules: string, chain: string) => {
      const prefix = `add rule inet tortie-policy ${chain} `;
      return rules
        .split('\n')
        .find((l) => l.startsWith(prefix))
        ?.slice(prefix.length);
    };
    const lean = renderFull(state).rules;
    assert.deepEqual(hookChains(lean), ['anti-spoof', 'forward', 'input', 'output']);
    assert.equal(firstRule(lean, 'anti-spoof'), 'iifname != "cali*" accept');
    assert.equal(firstRule(lean, 'forward'), 'ct state established,related accept');
    // A host endpoint with preDNAT and doNotTrack policy: all three stages hooked,
    // and the incremental update that brings it says the skeleton changed.
    const have = copyPolicyState(state);
    const hep = hostEndpoint(
      'h1-eth1',
      { node: NODES[0], interfaceName: 'eth1', expectedIPs: ['10.99.0.1'] },
      { role: 'host' },
    );
    const staged = hostStagePolicies("role == 'host'", 'h');
    for (const r of [hep, ...staged]) calc.onResource(r);
    assert.equal(renderUpdates(have, calc.drain()).full, true);
    const all = renderFull(calc.snapshot()).rules;
    assert.deepEqual(hookChains(all), [
      'anti-spoof',
      'raw-out',
      'pre-dnat',
      'forward',
      'input',
      'output',
    ]);
    assert.equal(firstRule(all, 'anti-spoof'), 'iifname != "cali*" goto raw-in');
    assert.equal(firstRule(all, 'pre-dnat'), 'ct state established,related accept');
    // Its going takes them away again; other endpoint changes never touch the skeleton.
    calc.onResource(hep, true);
    assert.equal(renderUpdates(have, calc.drain()).full, true);
    assert.deepEqual(hookChains(renderFull(calc.snapshot()).rules), hookChains(lean));
    calc.onResource(hep);
    renderUpdates(have, calc.drain());
    calc.onResource(podWithLabels('x/a', { pod: 'b' }));
    assert.equal(renderUpdates(have, calc.drain()).full, false);
  });

  it('host endpoints get failsafe jumps and conntrack checks of their own', () => {
    const { state } = stateOf([
      hostEndpoint(
        'h1-eth1',
        { node: NODES[0], interfaceName: 'eth1', expectedIPs: ['10.99.0.1'] },
        { role: 'host' },
      ),
      globalPolicy('hosts', {
        selector: "role == 'host'",
        ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }],
        types: ['Ingress'],
      }),
    ]);
    const { rules } = renderFull(state);
    assert.match(rules, /add element inet tortie-policy hep-in \{ "eth1" : goto hi-/);
    assert.match(rules, /add rule inet tortie-policy hi-\w+ jump failsafe-in/);
    assert.match(
      rules,
      /add rule inet tortie-policy failsafe-in meta l4proto 6 th dport 22 counter accept/,
    );
  });
});
