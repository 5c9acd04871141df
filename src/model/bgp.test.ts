import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calico, manifestIssues, objectIssues } from './test-support.js';

const peer = (spec: Record<string, unknown>) => calico('BGPPeer', 'peer', spec);
const bgpConfig = (spec: Record<string, unknown>, name = 'default') =>
  calico('BGPConfiguration', name, spec);

describe('BGPPeer', () => {
  it('accepts the sample from Calico’s reference page', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: some.name
spec:
  node: rack1-host1
  peerIP: 192.168.1.1
  asNumber: 63400
`;
    assert.deepEqual(manifestIssues(text), []);
  });

  it('takes peerIP with an optional port', () => {
    for (const peerIP of ['192.0.2.1', '192.0.2.1:1179', '2001:db8::1', '[2001:db8::1]:179']) {
      assert.deepEqual(objectIssues(peer({ peerIP, asNumber: 64512 })), [], peerIP);
    }
    for (const peerIP of [
      '192.0.2.1:0',
      '192.0.2.1:70000',
      '[192.0.2.1]:179',
      '2001:db8::1:179x',
      'router',
    ]) {
      assert.deepEqual(objectIssues(peer({ peerIP })), [
        `spec.peerIP: ${JSON.stringify(peerIP)} is not a valid peer address: use an IP, "IPv4:port" or "[IPv6]:port"`,
      ]);
    }
  });

  it('takes AS numbers as plain or dotted numbers in range', () => {
    for (const asNumber of [1, 4294967295, '64512', '1.10']) {
      assert.deepEqual(objectIssues(peer({ peerIP: '192.0.2.1', asNumber })), [], String(asNumber));
    }
    assert.deepEqual(objectIssues(peer({ peerIP: '192.0.2.1', asNumber: 4294967296 })), [
      'spec.asNumber: 4294967296 is not a valid AS number: use 0-4294967295 or dotted "a.b" with each part 0-65535',
    ]);
    assert.equal(objectIssues(peer({ asNumber: '65536.1' })).length, 1);
    assert.equal(objectIssues(peer({ asNumber: -1 })).length, 1);
  });

  it('keeps node and nodeSelector apart', () => {
    assert.deepEqual(
      objectIssues(peer({ node: 'a', nodeSelector: 'rack == "1"', peerIP: '192.0.2.1' })),
      ['spec.node: cannot be set together with nodeSelector: use one or the other'],
    );
  });

  it('keeps peerIP and asNumber away from peerSelector', () => {
    assert.deepEqual(
      objectIssues(peer({ peerIP: '192.0.2.1', asNumber: 64512, peerSelector: 'rr == "true"' })),
      [
        'spec.peerIP: cannot be set together with peerSelector: use one or the other',
        "spec.asNumber: must be empty when peerSelector is set: each selected node's own AS number is used",
      ],
    );
    assert.deepEqual(
      objectIssues(peer({ nodeSelector: 'all()', peerSelector: 'rr == "true"' })),
      [],
    );
  });

  it('checks localWorkloadSelector, reachableBy and the next hop options', () => {
    assert.deepEqual(
      objectIssues(peer({ localWorkloadSelector: 'app == "bgp"', peerIP: '192.0.2.1' })),
      [
        'spec.asNumber: is required when localWorkloadSelector is set',
        'spec.peerIP: must be empty when localWorkloadSelector is set',
      ],
    );
    assert.deepEqual(objectIssues(peer({ peerIP: '192.0.2.1', reachableBy: 'fd00::1' })), [
      'spec.reachableBy: is IPv6 but peerIP is IPv4',
    ]);
    assert.deepEqual(
      objectIssues(peer({ peerIP: '192.0.2.1', keepOriginalNextHop: true, nextHopMode: 'Self' })),
      [
        'spec.keepOriginalNextHop: is deprecated and cannot be true when nextHopMode is set: use nextHopMode: Keep',
      ],
    );
    assert.deepEqual(
      objectIssues(
        peer({
          peerIP: '192.0.2.1',
          asNumber: 65000,
          reachableBy: '192.0.2.254',
          nextHopMode: 'Keep',
          password: { secretKeyRef: { name: 'bgp-secrets', key: 'rr-password' } },
          sourceAddress: 'None',
          maxRestartTime: '2m',
          ttlSecurity: 1,
          filters: ['no-default'],
        }),
      ),
      [],
    );
  });
});

describe('BGPConfiguration', () => {
  it('accepts the sample from Calico’s reference page', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: true
  nodeMeshMaxRestartTime: 120s
  asNumber: 63400
  serviceClusterIPs:
    - cidr: 10.96.0.0/12
  serviceExternalIPs:
    - cidr: 104.244.42.129/32
    - cidr: 172.217.3.0/24
  listenPort: 178
  bindMode: NodeIP
  communities:
    - name: bgp-large-community
      value: 63400:300:100
  prefixAdvertisements:
    - cidr: 172.218.4.0/26
      communities:
        - bgp-large-community
        - 63400:120
`;
    assert.deepEqual(manifestIssues(text), []);
  });

  it('allows nodeToNodeMeshEnabled only on "default"', () => {
    assert.deepEqual(objectIssues(bgpConfig({ nodeToNodeMeshEnabled: false }, 'node.host-a')), [
      'spec.nodeToNodeMeshEnabled: can only be set on the "default" BGPConfiguration',
    ]);
    assert.deepEqual(
      objectIssues(bgpConfig({ listenPort: 1179, logSeverityScreen: 'Debug' }, 'node.host-a')),
      [],
    );
  });

  it('checks the log severity, AS number and listen port', () => {
    assert.deepEqual(
      objectIssues(bgpConfig({ logSeverityScreen: 'info', asNumber: 'x', listenPort: 0 })),
      [
        'spec.logSeverityScreen: "info" is not one of Trace, Debug, Info, Warning, Error, Fatal',
        'spec.asNumber: "x" is not a valid AS number: use 0-4294967295 or dotted "a.b" with each part 0-65535',
        'spec.listenPort: 0 is out of range: must be 1-65535',
      ],
    );
  });

  it('checks communities and their use', () => {
    assert.deepEqual(
      objectIssues(
        bgpConfig({
          communities: [
            { name: 'big', value: '70000:1' },
            { name: 'ok', value: '65000:100' },
          ],
          prefixAdvertisements: [{ cidr: '10.0.0.0/24', communities: ['ok', 'missing', '1:2:3'] }],
        }),
      ),
      [
        'spec.communities[0].value: "70000:1" is not a valid standard community: each part must fit in 16 bits',
        'spec.prefixAdvertisements[0].communities[1]: "missing" is neither a community defined in spec.communities nor a community value',
      ],
    );
    assert.deepEqual(objectIssues(bgpConfig({ communities: [{ name: 'unused', value: '1:1' }] })), [
      'spec.communities: are defined but no prefixAdvertisements use them',
    ]);
  });

  it('refuses node-mesh settings with the mesh off', () => {
    assert.deepEqual(
      objectIssues(bgpConfig({ nodeToNodeMeshEnabled: false, nodeMeshMaxRestartTime: '90s' })),
      ['spec.nodeMeshMaxRestartTime: cannot be set when nodeToNodeMeshEnabled is false'],
    );
    assert.deepEqual(objectIssues(bgpConfig({ nodeMeshMaxRestartTime: 'soon' })), [
      'spec.nodeMeshMaxRestartTime: "soon" is not a valid duration: use e.g. "90s", "1m30s" or "250ms"',
    ]);
  });

  it('checks service CIDRs and ignored interfaces', () => {
    assert.deepEqual(
      objectIssues(
        bgpConfig({
          serviceClusterIPs: [{ cidr: '10.96.0.1/12' }],
          ignoredInterfaces: ['*', 'veth*'],
        }),
      ),
      [
        'spec.serviceClusterIPs[0].cidr: "10.96.0.1/12" has host bits set: the network is "10.96.0.0/12"',
        `spec.ignoredInterfaces[0]: "*" is not a valid interface pattern: 1-15 letters, digits, '_', '.', '-' or '*' (and not just "*")`,
      ],
    );
  });
});
