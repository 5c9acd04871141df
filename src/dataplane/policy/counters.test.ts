import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCounters } from './counters.js';

const rule = (
  chain: string,
  comment: string | undefined,
  packets: number,
  action: Record<string, unknown>,
) => ({
  rule: {
    family: 'inet',
    table: 'tortie-policy',
    chain,
    handle: 1,
    ...(comment ? { comment } : {}),
    expr: [
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 6 } },
      { counter: { packets, bytes: packets * 60 } },
      action,
    ],
  },
});

describe('policy counters', () => {
  it('one row per policy rule (its nftables rules summed), and the other counted drops', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        rule('pi-np_x_p', 'rule 0: x/p ingress', 3, {
          mangle: {
            key: { meta: { key: 'mark' } },
            value: { '|': [{ meta: { key: 'mark' } }, 65536] },
          },
        }),
        rule('pi-np_x_p', 'rule 0: x/p ingress', 4, {
          mangle: {
            key: { meta: { key: 'mark' } },
            value: { '|': [{ meta: { key: 'mark' } }, 65536] },
          },
        }),
        rule('pi-np_x_p', 'rule 1: x/p ingress', 5, { drop: null }),
        rule('po-gnp_g', 'rule 0: g egress', 1, {
          mangle: {
            key: { meta: { key: 'mark' } },
            value: { '|': [{ meta: { key: 'mark' } }, 131072] },
          },
        }),
        rule('ri-kns.x', 'rule 0: kns.x ingress', 2, { log: { prefix: 'calico-packet: ' } }),
        rule('wi-abc', 'end of tier default', 6, { drop: null }),
        rule('wi-def', 'end of tier default', 1, { drop: null }),
        rule('anti-spoof', 'workload source address not its own', 9, { drop: null }),
        { rule: { chain: 'forward', expr: [{ accept: null }] } },
      ],
    });
    const rows = parseCounters(json);
    const find = (name: string, r?: number) => rows.find((x) => x.name === name && x.rule === r);
    assert.deepEqual(
      { ...find('x/p', 0) },
      {
        kind: 'rule',
        name: 'x/p',
        chain: 'pi-np_x_p',
        direction: 'ingress',
        rule: 0,
        action: 'Allow',
        packets: 7,
        bytes: 420,
      },
    );
    assert.equal(find('x/p', 1)?.action, 'Deny');
    assert.equal(find('g', 0)?.action, 'Pass');
    assert.equal(find('g', 0)?.direction, 'egress');
    assert.equal(find('kns.x', 0)?.action, 'Log');
    const eot = rows.filter((r) => r.kind === 'end-of-tier');
    assert.equal(eot.length, 1);
    assert.equal(eot[0]!.packets, 7);
    assert.equal(rows.find((r) => r.kind === 'anti-spoof')?.packets, 9);
    assert.equal(rows.length, 6);
  });
});
