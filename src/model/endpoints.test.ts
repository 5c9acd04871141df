import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calico, manifestIssues, objectIssues } from './test-support.js';

describe('Node', () => {
  it('accepts a node as calico-node writes it', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: node-hostname
spec:
  bgp:
    asNumber: 64512
    ipv4Address: 10.244.0.1/24
    ipv6Address: 2001:db8:85a3::8a2e:370:7334/120
    ipv4IPIPTunnelAddr: 192.168.0.1
    routeReflectorClusterID: 224.0.0.1
  ipv4VXLANTunnelAddr: 192.168.0.65
  vxlanTunnelMACAddr: 66:2f:7a:ab:0c:01
  addresses:
    - address: 10.244.0.1/24
      type: CalicoNodeIP
  orchRefs:
    - nodeName: node-hostname
      orchestrator: k8s
status:
  podCIDRs:
    - 192.168.0.0/24
`;
    assert.deepEqual(manifestIssues(text), []);
  });

  it('needs addresses with their prefix length', () => {
    assert.deepEqual(
      objectIssues(
        calico('Node', 'n', { addresses: [{ address: '10.0.0.5' }, { address: '10.0.0.5/33' }] }),
      ),
      [
        'spec.addresses[0].address: "10.0.0.5" needs a prefix length, e.g. "10.0.0.5/24"',
        'spec.addresses[1].address: "10.0.0.5/33" is not a valid CIDR',
      ],
    );
  });

  it('checks the BGP addresses, tunnel addresses and MAC', () => {
    assert.deepEqual(
      objectIssues(
        calico('Node', 'n', {
          bgp: {
            ipv4Address: 'fd00::1/64',
            ipv6Address: '10.0.0.1/24',
            routeReflectorClusterID: 'x',
          },
          ipv4VXLANTunnelAddr: '10.0.0.1/32',
          vxlanTunnelMACAddr: '66:2f:7a:ab:0c',
        }),
      ),
      [
        'spec.bgp.ipv4Address: "fd00::1/64" is not an IPv4 CIDR',
        'spec.bgp.ipv6Address: "10.0.0.1/24" is not an IPv6 CIDR',
        'spec.bgp.routeReflectorClusterID: "x" is not a valid IPv4 address',
        'spec.ipv4VXLANTunnelAddr: "10.0.0.1/32" is not a valid IPv4 address',
        'spec.vxlanTunnelMACAddr: "66:2f:7a:ab:0c" is not a valid MAC address',
      ],
    );
  });

  it('refuses an empty bgp section', () => {
    assert.deepEqual(objectIssues(calico('Node', 'n', { bgp: {} })), [
      'spec.bgp: must not be empty: set ipv4Address or ipv6Address, or leave bgp out',
    ]);
  });
});

describe('WorkloadEndpoint', () => {
  const wep = (spec: Record<string, unknown>) =>
    calico('WorkloadEndpoint', 'node1-k8s-my--nginx--b1337a-eth0', spec, 'default');
  const base = {
    node: 'node1',
    orchestrator: 'k8s',
    pod: 'my-nginx-b1337a',
    endpoint: 'eth0',
    containerID: '1337495556942031415926535',
    interfaceName: 'cali0ef24ba',
    mac: 'ca:fe:1d:52:bb:e9',
    ipNetworks: ['192.168.0.0/32'],
    profiles: ['profile1'],
    ports: [
      { name: 'some-port', port: 1234, protocol: 'TCP' },
      { name: 'another-port', port: 5432, protocol: 'UDP' },
    ],
  };

  it('accepts a typical endpoint', () => {
    assert.deepEqual(objectIssues(wep(base)), []);
  });

  it('needs single-address ipNetworks', () => {
    assert.deepEqual(
      objectIssues(wep({ ...base, ipNetworks: ['10.0.0.0/24', 'fd00::1/128', '10.0.0.7'] })),
      ['spec.ipNetworks[0]: "10.0.0.0/24" is not a single address: use a /32'],
    );
  });

  it('needs an interface name of at most 15 characters', () => {
    assert.deepEqual(objectIssues(wep({ ...base, interfaceName: undefined })), [
      'spec.interfaceName: is required',
    ]);
    assert.deepEqual(objectIssues(wep({ ...base, interfaceName: 'cali0123456789abcdef' })), [
      `spec.interfaceName: "cali0123456789abcdef" is not a valid interface name: 1-15 letters, digits, '_', '.' or '-', or "*"`,
    ]);
  });

  it('checks the MAC, gateways, NATs and named ports', () => {
    assert.deepEqual(objectIssues(wep({ ...base, mac: 'cafe.1d52.bbe9' })), []);
    assert.deepEqual(
      objectIssues(
        wep({
          ...base,
          ipv4Gateway: 'fd00::1',
          ports: [{ name: 'Web', port: 80, protocol: 'TCP' }],
        }),
      ),
      [
        `spec.ports[0].name: "Web" is not a valid port name: may contain only lower case letters, digits and '-'`,
        'spec.ipv4Gateway: "fd00::1" is not an IPv4 address',
      ],
    );
    assert.deepEqual(
      objectIssues(
        wep({
          ...base,
          ipNATs: [{ internalIP: '192.168.9.9', externalIP: '203.0.113.5' }],
          ports: [{ port: 53, protocol: 'ICMP' }],
        }),
      ),
      [
        'spec.ipNATs[0].internalIP: "192.168.9.9" is not one of the endpoint\'s ipNetworks',
        'spec.ports[0].protocol: "ICMP" has no ports: use TCP, UDP, SCTP or UDPLite',
        'spec.ports[0].name: is required unless hostPort is set',
      ],
    );
  });
});

describe('HostEndpoint', () => {
  const hep = (spec: Record<string, unknown>) => calico('HostEndpoint', 'host1-eth0', spec);

  it('needs a node and an interface or expected IPs', () => {
    assert.deepEqual(
      objectIssues(hep({ node: 'host1', interfaceName: 'eth0', expectedIPs: ['192.168.0.1'] })),
      [],
    );
    assert.deepEqual(objectIssues(hep({ node: 'host1', interfaceName: '*' })), []);
    assert.deepEqual(objectIssues(hep({ interfaceName: 'eth0' })), ['spec.node: is required']);
    assert.deepEqual(objectIssues(hep({ node: 'host1' })), [
      'spec: needs interfaceName or expectedIPs (or both)',
    ]);
  });

  it('checks named ports', () => {
    assert.deepEqual(
      objectIssues(
        hep({
          node: 'h',
          interfaceName: 'eth0',
          ports: [{ name: 'ssh', port: 22, protocol: 'TCP' }],
        }),
      ),
      [],
    );
    assert.deepEqual(
      objectIssues(
        hep({ node: 'h', interfaceName: 'eth0', ports: [{ port: 22, protocol: 'TCP' }] }),
      ),
      ['spec.ports[0].name: is required'],
    );
  });
});

describe('NetworkSet and GlobalNetworkSet', () => {
  it('take CIDRs or addresses, and not the namespace label', () => {
    assert.deepEqual(
      objectIssues(
        calico('GlobalNetworkSet', 'bad-actors', { nets: ['198.51.100.0/28', '203.0.113.7'] }),
      ),
      [],
    );
    assert.deepEqual(objectIssues(calico('NetworkSet', 'x', { nets: ['nonsense'] }, 'prod')), [
      'spec.nets[0]: "nonsense" is not a valid CIDR',
    ]);
    const set = calico('GlobalNetworkSet', 'x', { nets: [] });
    set.metadata.labels = { 'projectcalico.org/namespace': 'prod' };
    assert.deepEqual(objectIssues(set), [
      'metadata.labels["projectcalico.org/namespace"]: is reserved for Calico and cannot be set on a network set',
    ]);
  });
});
