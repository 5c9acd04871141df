import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calico, manifestIssues, objectIssues } from './test-support.js';

const felix = (spec: Record<string, unknown>, name = 'default') =>
  calico('FelixConfiguration', name, spec);

describe('FelixConfiguration', () => {
  it('accepts the commonly set fields', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: default
spec:
  ipv6Support: false
  ipipMTU: 1400
  vxlanEnabled: true
  vxlanVNI: 4096
  vxlanPort: 4789
  vxlanMTU: 1410
  chainInsertMode: Append
  defaultEndpointToHostAction: Accept
  logSeverityScreen: Info
  routeRefreshInterval: 90s
  iptablesRefreshInterval: 1m30s
  reportingInterval: 0s
  healthEnabled: true
  healthPort: 9099
  prometheusMetricsEnabled: true
  prometheusMetricsPort: 9091
  iptablesMarkMask: 0xffff0000
  allowVXLANPacketsFromWorkloads: false
  natOutgoingAddress: 203.0.113.1
  failsafeInboundHostPorts:
    - protocol: tcp
      port: 22
    - protocol: UDP
      port: 68
      net: 0.0.0.0/0
  failsafeOutboundHostPorts: []
  kubeNodePortRanges: ["30000:32767"]
  healthTimeoutOverrides:
    - name: InternalDataplaneMainLoop
      timeout: 30s
`;
    assert.deepEqual(manifestIssues(text), []);
  });

  it('checks durations', () => {
    assert.deepEqual(
      objectIssues(felix({ routeRefreshInterval: '90', iptablesRefreshInterval: 10 })),
      [
        'spec.routeRefreshInterval: "90" is not a valid duration: use e.g. "90s", "1m30s" or "250ms"',
        'spec.iptablesRefreshInterval: must be a string, not the number 10',
      ],
    );
    assert.deepEqual(
      objectIssues(
        felix({ routeRefreshInterval: '1h2m3.5s', netlinkTimeout: '250ms', reportingTTL: '0' }),
      ),
      [],
    );
  });

  it('checks enums, exactly as Calico spells them', () => {
    assert.deepEqual(
      objectIssues(
        felix({
          defaultEndpointToHostAction: 'ACCEPT',
          logSeverityScreen: 'Verbose',
          bpfLogLevel: 'Off',
        }),
      ),
      [
        'spec.defaultEndpointToHostAction: "ACCEPT" is not one of Drop, Accept, Return',
        'spec.logSeverityScreen: "Verbose" is not one of Trace, Debug, Info, Warning, Error, Fatal',
      ],
    );
  });

  it('checks ports, VNI and addresses', () => {
    assert.deepEqual(
      objectIssues(
        felix({
          vxlanPort: 0,
          vxlanVNI: 16777216,
          healthPort: 70000,
          natOutgoingAddress: 'fd00::1',
        }),
      ),
      [
        'spec.vxlanPort: 0 is out of range: must be 1-65535',
        'spec.vxlanVNI: 16777216 is out of range: must be 0-16777215',
        'spec.healthPort: 70000 is out of range: must be 1-65535',
        'spec.natOutgoingAddress: "fd00::1" is not an IPv4 address',
      ],
    );
  });

  it('checks failsafe ports and node port ranges', () => {
    assert.deepEqual(
      objectIssues(
        felix({ failsafeInboundHostPorts: [{ protocol: 'icmp', port: 22 }, { protocol: 'tcp' }] }),
      ),
      [
        'spec.failsafeInboundHostPorts[0].protocol: "icmp" is not one of TCP, UDP, SCTP',
        'spec.failsafeInboundHostPorts[1].port: is required',
      ],
    );
    assert.deepEqual(objectIssues(felix({ kubeNodePortRanges: ['nodeports'] })), [
      'spec.kubeNodePortRanges[0]: must be a port or range, not a named port',
    ]);
  });

  it('checks route table ranges', () => {
    assert.deepEqual(objectIssues(felix({ routeTableRange: { min: 1, max: 250 } })), []);
    assert.deepEqual(
      objectIssues(
        felix({ routeTableRange: { min: 0, max: 300 }, routeTableRanges: [{ min: 10, max: 5 }] }),
      ),
      [
        'spec.routeTableRange: cannot be set together with routeTableRanges',
        'spec.routeTableRange: must be a range of route table indices within 1-250',
        'spec.routeTableRanges[0]: min 10 is greater than max 5',
      ],
    );
  });

  it('refuses fields Felix does not have', () => {
    assert.deepEqual(objectIssues(felix({ vxlanVni: 4096 })), [
      'spec.vxlanVni: unknown field (did you mean "vxlanVNI"?)',
    ]);
  });
});
