import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRouteTable, maskOf, routeRow, type IpRoute } from './routes.js';

describe('route -n rendering', () => {
  it('turns prefix lengths into netmasks', () => {
    assert.equal(maskOf(0), '0.0.0.0');
    assert.equal(maskOf(16), '255.255.0.0');
    assert.equal(maskOf(20), '255.255.240.0');
    assert.equal(maskOf(26), '255.255.255.192');
    assert.equal(maskOf(32), '255.255.255.255');
  });

  it('prints a Calico host table like the articles’ figures', () => {
    // `ip -4 -json route` on a host with a local block, one workload, a remote block via VXLAN.
    const routes: IpRoute[] = [
      { dst: 'default', gateway: '172.31.1.1', dev: 'eth0', flags: [] },
      { dst: '10.244.0.0/26', type: 'blackhole', protocol: 'static', flags: [] },
      { dst: '10.244.0.1', dev: 'cali197e271f543', scope: 'link', flags: [] },
      { dst: '10.244.0.64/26', gateway: '10.244.0.64', dev: 'vxlan.calico', flags: ['onlink'] },
      { dst: '172.31.1.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', flags: [] },
      { dst: '169.254.0.0/16', dev: 'eth0', metric: 1002, flags: [] },
    ];
    assert.equal(
      formatRouteTable(routes),
      [
        'Kernel IP routing table',
        'Destination     Gateway         Genmask         Flags Metric Ref    Use Iface',
        '0.0.0.0         172.31.1.1      0.0.0.0         UG    0      0        0 eth0',
        '10.244.0.0      0.0.0.0         255.255.255.192 U     0      0        0 *',
        '10.244.0.1      0.0.0.0         255.255.255.255 UH    0      0        0 cali197e271f543',
        '10.244.0.64     10.244.0.64     255.255.255.192 UG    0      0        0 vxlan.calico',
        '172.31.1.0      0.0.0.0         255.255.255.0   U     0      0        0 eth0',
        '169.254.0.0     0.0.0.0         255.255.0.0     U     1002   0        0 eth0',
        '',
      ].join('\n'),
    );
  });

  it('flags a /32 through a gateway UGH', () => {
    assert.equal(routeRow({ dst: '10.0.0.5', gateway: '172.31.1.12', dev: 'eth0' }).flags, 'UGH');
  });
});
