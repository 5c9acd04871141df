import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ALL_KINDS,
  GLOBALNETWORKPOLICY,
  IPPOOL,
  K8S_NETWORKPOLICY,
  kindPrefix,
  lookupKind,
  lookupKindFor,
  lookupKindOf,
  NETWORKPOLICY,
  resourceKey,
} from './kinds.js';

describe('lookupKind', () => {
  it("accepts calicoctl's names and aliases, case-insensitively", () => {
    const cases: [string, string][] = [
      ['IPPool', 'IPPool'],
      ['ippools', 'IPPool'],
      ['pool', 'IPPool'],
      ['POOLS', 'IPPool'],
      ['ipp', 'IPPool'],
      ['policy', 'NetworkPolicy'],
      ['np', 'NetworkPolicy'],
      ['policies', 'NetworkPolicy'],
      ['gnp', 'GlobalNetworkPolicy'],
      ['gns', 'GlobalNetworkSet'],
      ['netset', 'NetworkSet'],
      ['hep', 'HostEndpoint'],
      ['wep', 'WorkloadEndpoint'],
      ['bgpp', 'BGPPeer'],
      ['peer', 'BGPPeer'],
      ['bgpconfig', 'BGPConfiguration'],
      ['felixconfig', 'FelixConfiguration'],
      ['no', 'Node'],
      ['nodes', 'Node'],
      ['pro', 'Profile'],
      ['tier', 'Tier'],
      ['ipreservation', 'IPReservation'],
      ['ipamconfig', 'IPAMConfiguration'],
      ['clusterinfo', 'ClusterInformation'],
      ['ippools.projectcalico.org', 'IPPool'],
    ];
    for (const [name, kind] of cases) assert.equal(lookupKind(name)?.kind, kind, name);
  });

  it('finds Kubernetes NetworkPolicy under its own names only', () => {
    assert.equal(lookupKind('knp'), K8S_NETWORKPOLICY);
    assert.equal(lookupKind('networkpolicies.networking.k8s.io'), K8S_NETWORKPOLICY);
    assert.equal(lookupKind('NetworkPolicy.networking.k8s.io'), K8S_NETWORKPOLICY);
    assert.equal(lookupKind('networkpolicy'), NETWORKPOLICY);
  });

  it('returns undefined for an unknown name', () => {
    assert.equal(lookupKind('pods'), undefined);
  });

  it('tells the two NetworkPolicy kinds apart by apiVersion', () => {
    assert.equal(lookupKindFor('projectcalico.org/v3', 'NetworkPolicy'), NETWORKPOLICY);
    assert.equal(lookupKindFor('networking.k8s.io/v1', 'NetworkPolicy'), K8S_NETWORKPOLICY);
    assert.equal(lookupKindFor('projectcalico.org/v3', 'ippool'), undefined);
    assert.equal(lookupKindOf({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool' }), IPPOOL);
  });

  it('has unique kind identities and Calico plurals', () => {
    const ids = ALL_KINDS.map((k) => `${k.apiVersion}/${k.kind}`);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(
      ALL_KINDS.filter((k) => k.group === 'projectcalico.org')
        .map((k) => k.plural)
        .sort(),
      [
        'bgpconfigurations',
        'bgppeers',
        'clusterinformations',
        'felixconfigurations',
        'globalnetworkpolicies',
        'globalnetworksets',
        'hostendpoints',
        'ipamconfigurations',
        'ippools',
        'ipreservations',
        'networkpolicies',
        'networksets',
        'nodes',
        'profiles',
        'tiers',
        'workloadendpoints',
      ],
    );
  });
});

describe('resourceKey and kindPrefix', () => {
  it("use Calico's etcdv3 layout", () => {
    assert.equal(
      resourceKey(IPPOOL, 'pool-a'),
      '/calico/resources/v3/projectcalico.org/ippools/pool-a',
    );
    assert.equal(
      resourceKey(NETWORKPOLICY, 'allow', 'prod'),
      '/calico/resources/v3/projectcalico.org/networkpolicies/prod/allow',
    );
    assert.equal(
      resourceKey(K8S_NETWORKPOLICY, 'deny-all', 'prod'),
      '/calico/resources/v3/networking.k8s.io/networkpolicies/prod/deny-all',
    );
    assert.equal(
      resourceKey(GLOBALNETWORKPOLICY, 'security.allow-dns'),
      '/calico/resources/v3/projectcalico.org/globalnetworkpolicies/security.allow-dns',
    );
  });

  it('list a kind, or one namespace of it', () => {
    assert.equal(kindPrefix(IPPOOL), '/calico/resources/v3/projectcalico.org/ippools/');
    assert.equal(
      kindPrefix(NETWORKPOLICY),
      '/calico/resources/v3/projectcalico.org/networkpolicies/',
    );
    assert.equal(
      kindPrefix(NETWORKPOLICY, 'prod'),
      '/calico/resources/v3/projectcalico.org/networkpolicies/prod/',
    );
  });

  it('refuse a namespace mismatch or a name that is not one key segment', () => {
    assert.throws(() => resourceKey(NETWORKPOLICY, 'allow'), /namespaced/);
    assert.throws(() => kindPrefix(IPPOOL, 'prod'), /not namespaced/);
    assert.throws(() => resourceKey(IPPOOL, 'a/b'), /cannot be part of a datastore key/);
    assert.throws(() => resourceKey(IPPOOL, ''), /cannot be part of a datastore key/);
  });
});
