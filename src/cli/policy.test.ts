import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { baseResources, SCENARIOS } from '../calc/policy/test-support/scenarios.js';
import type { CounterRow } from '../dataplane/policy/counters.js';
import { ResourceStore } from '../datastore/resources.js';
import { SqliteDatastore } from '../datastore/sqlite.js';
import type { Datastore } from '../datastore/types.js';
import { applyDefaults } from '../model/defaults.js';
import {
  explainFlow,
  formatCounters,
  loadPolicyResources,
  registerPolicyCommands,
} from './policy.js';
import { runCli } from './test-support/run-cli.js';

describe('tortie policy', () => {
  let dir: string;
  let datastore: Datastore;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tortie-cli-policy-'));
    datastore = SqliteDatastore.open(join(dir, 'store.db'));
    const store = new ResourceStore(datastore);
    const resources = [
      ...baseResources(),
      ...SCENARIOS.find((s) => s.name === 'tiers-pass')!.resources,
    ];
    for (const r of resources) await store.apply(applyDefaults(r));
  });
  after(async () => {
    await datastore.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tortie = (...argv: string[]) => runCli(argv, async () => datastore);
  /** `tortie policy explain --from F --to T --protocol P [more]`. */
  const explain = (from: string, to: string, protocol: string, ...more: string[]) =>
    tortie('policy', 'explain', '--from', from, '--to', to, '--protocol', protocol, ...more);

  it('reads every policy kind back from the datastore', async () => {
    const kinds = new Set(
      (await loadPolicyResources(datastore)).map((r) => `${r.apiVersion} ${r.kind}`),
    );
    for (const k of [
      'WorkloadEndpoint',
      'Profile',
      'Tier',
      'GlobalNetworkPolicy',
      'NetworkPolicy',
    ]) {
      assert.ok(kinds.has(`projectcalico.org/v3 ${k}`), k);
    }
  });

  it('explain names the tier, policy and rule that decide, in text', async () => {
    const denied = await explain('x/b', 'y/a', 'tcp', '--port', '80');
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(denied.stdout, /^DENIED: x\/b \(10\.77\.1\.2\) -> y\/a \(10\.77\.2\.1\) tcp\/80/);
    assert.match(denied.stdout, /tier security passed/);
    assert.match(
      denied.stdout,
      /decided by: tier default, NetworkPolicy y\/deny-xb rule 0 \(Deny\)/,
    );
    const allowed = await explain('10.77.3.1', 'y/b', 'udp', '--port', '81');
    assert.match(allowed.stdout, /^ALLOWED/);
    assert.match(
      allowed.stdout,
      /tier security, GlobalNetworkPolicy security\.gate rule 1 \(Allow\)/,
    );
    const end = await explain('z/b', 'y/b', 'icmp');
    assert.match(end.stdout, /decided by: the end of tier security/);
  });

  it('explain -o json carries the verdict and every step', async () => {
    const r = await explain('x/a', 'y/c', 'tcp', '--port', '81', '-o', 'json');
    const out = JSON.parse(r.stdout) as {
      allowed: boolean;
      steps: { direction: string; passedTiers: string[] }[];
    };
    assert.equal(out.allowed, true);
    assert.deepEqual(
      out.steps.map((s) => s.direction),
      ['egress', 'ingress'],
    );
    assert.deepEqual(out.steps[1]!.passedTiers, ['security']);
  });

  it('explain refuses unknown workloads and a missing port', async () => {
    const unknown = await explain('nope', 'y/a', 'tcp', '--port', '80');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /--from nope: no such workload/);
    const noPort = await explain('x/a', 'y/a', 'udp');
    assert.equal(noPort.code, 2);
    const badProto = await explain('x/a', 'y/a', 'gre');
    assert.notEqual(badProto.code, 0);
  });

  it('explainFlow is the same evaluation as a pure function', async () => {
    const resources = await loadPolicyResources(datastore);
    const r = explainFlow(resources, { from: 'x/b', to: 'y/a', protocol: 'tcp', port: 80 });
    assert.equal(r.allowed, false);
    assert.equal(r.from.address, '10.77.1.2');
    assert.equal(r.to.endpoint, 'y/a');
  });

  it('counters print one line per counting rule, busiest first', () => {
    const rows: CounterRow[] = [
      {
        kind: 'rule',
        name: 'y/deny-xb',
        chain: 'pi-np_y_deny-xb',
        direction: 'ingress',
        rule: 0,
        action: 'Deny',
        packets: 3,
        bytes: 180,
      },
      {
        kind: 'end-of-tier',
        name: 'end of tier security',
        chain: '',
        direction: 'ingress',
        rule: undefined,
        action: 'Deny',
        packets: 12,
        bytes: 720,
      },
      {
        kind: 'rule',
        name: 'security.gate',
        chain: 'pi-gnp_security.gate',
        direction: 'ingress',
        rule: 1,
        action: 'Allow',
        packets: 0,
        bytes: 0,
      },
    ];
    const text = formatCounters(rows, false);
    const lines = text.trim().split('\n');
    assert.match(lines[0]!, /^POLICY\s+DIRECTION\s+RULE\s+ACTION\s+PACKETS\s+BYTES$/);
    assert.match(lines[1]!, /^\(end-of-tier\) end of tier security\s+ingress\s+Deny\s+12\s+720$/);
    assert.match(lines[2]!, /^y\/deny-xb\s+ingress\s+0\s+Deny\s+3\s+180$/);
    assert.equal(lines.length, 3);
    assert.equal(formatCounters(rows, true).trim().split('\n').length, 4);
  });
});
