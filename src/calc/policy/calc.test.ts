import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { lookupKindOf, resourceKey } from '../../model/kinds.js';
import type { Resource } from '../../model/resource.js';
import { PolicyCalc } from './calc.js';
import { IREvaluator, irFlow } from './ir-eval.js';
import { evaluatePacket, ReferenceModel } from './reference.js';
import { hostEndpoint, StateDataplane, stateJson, workload } from './test-support/fixtures.js';
import { randomModel, randomPacket, R_NODES, type RandomModel } from './test-support/random.js';
import {
  baseResources,
  NODES,
  POD_LIST,
  podWithLabels,
  SCENARIOS,
} from './test-support/scenarios.js';

function calcFor(node: string, resources: readonly Resource[]): PolicyCalc {
  const calc = new PolicyCalc({ nodeName: node });
  for (const r of resources) calc.onResource(r);
  return calc;
}

/** The IR's verdict: egress on the source's host, ingress on the destination's. */
function irAllowed(
  evaluators: Map<string, IREvaluator>,
  workloads: { ip: string; node: string; iface: string }[],
  pkt: Parameters<typeof irFlow>[0],
): boolean {
  const src = workloads.find((w) => w.ip === pkt.src);
  const dst = workloads.find((w) => w.ip === pkt.dst);
  if (src && dst && src.ip === dst.ip) return true;
  const f = irFlow(pkt);
  if (src && !evaluators.get(src.node)!.evaluate(src.iface, 'egress', f).allowed) return false;
  if (dst && !evaluators.get(dst.node)!.evaluate(dst.iface, 'ingress', f).allowed) return false;
  return true;
}

function evaluatorsFor(model: RandomModel | { resources: Resource[] }, nodes: readonly string[]) {
  const out = new Map<string, IREvaluator>();
  for (const node of nodes) {
    const calc = calcFor(node, model.resources);
    calc.drain();
    out.set(node, new IREvaluator(calc.snapshot()));
  }
  return out;
}

function keyOf(r: Resource): string {
  const info = lookupKindOf(r)!;
  return resourceKey(info, r.metadata.name, info.namespaced ? r.metadata.namespace : undefined);
}

describe('policy calculation', () => {
  it('agrees with the reference evaluator on every truth-table scenario and cell', () => {
    for (const sc of SCENARIOS) {
      const resources = [...baseResources(), ...sc.resources];
      const ref = new ReferenceModel(resources);
      const evaluators = evaluatorsFor({ resources }, NODES);
      for (const s of POD_LIST) {
        for (const d of POD_LIST) {
          for (const [protocol, port] of [
            ['tcp', 80],
            ['tcp', 81],
            ['udp', 80],
            ['udp', 81],
            ['icmp', undefined],
          ] as const) {
            const pkt = { src: s.ip, dst: d.ip, protocol, ...(port ? { port } : {}) };
            const want = evaluatePacket(ref, pkt).allowed;
            assert.equal(
              irAllowed(evaluators, POD_LIST, pkt),
              want,
              `${sc.name}: ${s.id} -> ${d.id} ${protocol}/${port}`,
            );
          }
        }
      }
    }
  });

  it('the compiled IR decides every random packet as the reference evaluator does', () => {
    fc.assert(
      fc.property(
        randomModel.chain((m) =>
          fc.tuple(
            fc.constant(m),
            fc.array(randomPacket(m.workloads), { minLength: 20, maxLength: 40 }),
          ),
        ),
        ([model, packets]) => {
          const ref = new ReferenceModel(model.resources);
          const evaluators = evaluatorsFor(model, R_NODES);
          for (const p of packets) {
            const pkt = {
              src: p.src,
              dst: p.dst,
              protocol: p.protocol,
              srcPort: p.srcPort,
              ...(p.port !== undefined ? { port: p.port } : {}),
              ...(p.icmpType !== undefined ? { icmpType: p.icmpType } : {}),
            };
            const want = evaluatePacket(ref, pkt).allowed;
            const got = irAllowed(evaluators, model.workloads, pkt);
            if (got !== want) {
              throw new Error(
                `${JSON.stringify(pkt)}: IR ${got}, reference ${want}\n${describe(evaluatePacket(ref, pkt))}`,
              );
            }
          }
        },
      ),
      { numRuns: 250 },
    );
    function describe(v: unknown) {
      return JSON.stringify(v, null, 1).slice(0, 2000);
    }
  });

  it('gives the same state whatever order the resources arrive in', () => {
    fc.assert(
      fc.property(
        randomModel.chain((m) =>
          fc.tuple(
            fc.constant(m),
            fc.shuffledSubarray(m.resources, { minLength: m.resources.length }),
          ),
        ),
        ([model, shuffled]) => {
          const a = calcFor(R_NODES[0]!, model.resources);
          a.drain();
          const b = calcFor(R_NODES[0]!, shuffled);
          b.drain();
          assert.deepEqual(
            stateJson(b.snapshot(), { marks: false }),
            stateJson(a.snapshot(), { marks: false }),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('drained messages, applied one batch at a time, build exactly the snapshot; removing everything leaves nothing', () => {
    fc.assert(
      fc.property(
        randomModel.chain((m) =>
          fc.tuple(
            fc.constant(m),
            fc.array(fc.nat({ max: m.resources.length - 1 }), { maxLength: 12 }),
            fc.integer({ min: 1, max: 4 }),
          ),
        ),
        ([model, churn, batch]) => {
          const calc = new PolicyCalc({ nodeName: R_NODES[0]! });
          const dp = new StateDataplane();
          // Add in batches, with some resources deleted and re-added on the way.
          model.resources.forEach((r, i) => {
            calc.onResource(r);
            if (i % batch === 0) dp.apply(calc.drain());
          });
          for (const i of churn) {
            const r = model.resources[i]!;
            calc.onResource(r, true);
            if (i % 2 === 0) dp.apply(calc.drain());
            calc.onResource(r);
          }
          dp.apply(calc.drain());
          assert.deepEqual(stateJson(dp.state), stateJson(calc.snapshot()));
          const fresh = calcFor(R_NODES[0]!, model.resources);
          fresh.drain();
          assert.deepEqual(
            stateJson(calc.snapshot(), { marks: false }),
            stateJson(fresh.snapshot(), { marks: false }),
          );
          for (const r of [...model.resources].reverse()) calc.onResource(r, true);
          dp.apply(calc.drain());
          assert.equal(dp.state.sets.size, 0, 'no set left');
          assert.equal(dp.state.ruleChains.size, 0, 'no rule chain left');
          assert.equal(dp.state.endpointChains.size, 0, 'no endpoint chain left');
          assert.equal(dp.state.endpoints.size, 0, 'no endpoint left');
        },
      ),
      { numRuns: 100 },
    );
  });

  it('takes datastore keys and JSON values, and treats a bad value as absent', () => {
    const resources = [
      ...baseResources(),
      ...SCENARIOS.find((s) => s.name === 'named-ports')!.resources,
    ];
    const byKv = new PolicyCalc({ nodeName: NODES[0] });
    for (const r of resources) assert.equal(byKv.onKv(keyOf(r), JSON.stringify(r)), true);
    assert.equal(byKv.onKv('/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26', '{}'), false);
    byKv.drain();
    const direct = calcFor(NODES[0], resources);
    direct.drain();
    assert.deepEqual(stateJson(byKv.snapshot()), stateJson(direct.snapshot()));
    const wep = resources.find((r) => r.kind === 'WorkloadEndpoint')!;
    byKv.onKv(keyOf(wep), '{not json');
    byKv.drain();
    assert.equal(byKv.model.invalid.size, 1);
    assert.ok(
      ![...byKv.snapshot().endpoints.values()].some(
        (e) => e.key === `${wep.metadata.namespace}/${wep.metadata.name}`,
      ),
    );
  });

  it("enforces only its own host's endpoints, and compiles only the policies they need", () => {
    const resources = [
      ...baseResources(),
      ...SCENARIOS.find((s) => s.name === 'default-deny-ingress')!.resources,
    ];
    const h1 = calcFor(NODES[0], resources);
    h1.drain();
    const state = h1.snapshot();
    const mine = POD_LIST.filter((p) => p.node === NODES[0]);
    assert.deepEqual([...state.endpoints.keys()].sort(), mine.map((p) => p.iface).sort());
    // The deny-ingress policy of x selects x pods; h1 has some, so it is compiled, once.
    assert.ok([...state.ruleChains.keys()].includes('pi-knp_x_deny-ingress'));
    const other = calcFor('no-such-node', resources);
    other.drain();
    assert.equal(other.snapshot().ruleChains.size, 0);
    assert.equal(other.snapshot().sets.size, 0);
  });

  it('shares one endpoint chain between endpoints with the same policies', () => {
    const resources = [...baseResources()];
    for (let i = 0; i < 50; i++) {
      resources.push(
        workload({
          namespace: 'x',
          name: `extra${i}`,
          node: NODES[0],
          iface: `caliextra${i}`,
          ip: `10.77.9.${i + 1}`,
          labels: { pod: 'a' },
        }),
      );
    }
    const calc = calcFor(NODES[0], resources);
    calc.drain();
    const s = calc.snapshot();
    assert.ok(s.endpoints.size > 50);
    assert.ok(
      s.endpointChains.size <= 6,
      `${s.endpointChains.size} endpoint chains for ${s.endpoints.size} endpoints`,
    );
  });

  it('a relabelled endpoint changes set members and its map entry, nothing else', () => {
    const resources = [
      ...baseResources(),
      ...SCENARIOS.find((s) => s.name === 'allow-by-pod-label')!.resources,
    ];
    const calc = calcFor(NODES[0], resources);
    calc.drain();
    calc.onResource(podWithLabels('x/a', { pod: 'b' }));
    const msgs = calc.drain();
    const kinds = new Set(msgs.map((m) => m.type));
    assert.ok(kinds.has('set-delta'), JSON.stringify(msgs));
    for (const k of kinds)
      assert.ok(
        ['set-delta', 'endpoint', 'endpoint-chain', 'endpoint-chain-delete'].includes(k),
        k,
      );
    assert.equal(msgs.filter((m) => m.type === 'rule-chain').length, 0);
  });

  it('a host endpoint without interfaceName is the interface holding one of its expectedIPs', () => {
    const calc = new PolicyCalc({ nodeName: 'n1' });
    calc.onResource(hostEndpoint('by-ip', { node: 'n1', expectedIPs: ['10.1.2.3'] }));
    const ifaces = () => [...calc.snapshot().endpoints.keys()];
    calc.drain();
    assert.ok(calc.needsInterfaceAddresses);
    assert.deepEqual(ifaces(), [], 'not enforced while no interface holds the address');
    calc.setInterfaceAddresses(
      new Map([
        ['eth9', ['10.1.2.3']],
        ['lo', ['127.0.0.1']],
      ]),
    );
    let msgs = calc.drain();
    assert.deepEqual(ifaces(), ['eth9']);
    assert.ok(msgs.some((m) => m.type === 'endpoint' && m.endpoint.iface === 'eth9'));
    // The address moves to another interface; then it is gone.
    calc.setInterfaceAddresses(new Map([['eth8', ['10.1.2.3']]]));
    msgs = calc.drain();
    assert.deepEqual(ifaces(), ['eth8']);
    assert.ok(msgs.some((m) => m.type === 'endpoint-delete' && m.iface === 'eth9'));
    calc.setInterfaceAddresses(new Map());
    calc.drain();
    assert.deepEqual(ifaces(), []);
  });
});
