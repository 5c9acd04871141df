// A lab state as `lab up --hosts 2 --workloads 2` leaves it, for tests of the
// pure parts (no kernel, no root).

import type { LabState, LabWorkload } from '../state.js';

export function sampleState(name = 'demo'): LabState {
  const workload = (host: string, k: number, address: string): LabWorkload => ({
    name: `${host}-w${k}`,
    host,
    namespace: 'default',
    netns: `tl-${name}-w-${host}-w${k}`,
    containerId: `${name}-${host}-w${k}-0000000${k}`,
    addresses: [`${address}/32`],
    interface: 'eth0',
    hostInterface: `cali${host.slice(-1)}${k}000000000`.slice(0, 15),
    labels: { app: `w${k}` },
  });
  return {
    version: 1,
    name,
    createdAt: '2024-01-01T00:00:00.000Z',
    phase: 'ready',
    topology: 'flat',
    encap: 'none',
    datastore: { url: `sqlite:/var/lib/tortie/labs/${name}/tortie.db`, embedded: true },
    cni: { command: ['/repo/bin/tortie-cni'], path: ['/repo/bin'], mtu: 1500 },
    underlay: [
      {
        segment: 1,
        netns: `tl-${name}-ul`,
        bridge: 'br1',
        cidr: '172.31.1.0/24',
        gateway: '172.31.1.1',
      },
    ],
    hosts: [
      {
        name: 'host1',
        netns: `tl-${name}-host1`,
        address: '172.31.1.11',
        prefixLength: 24,
        segment: 1,
        gateway: '172.31.1.1',
      },
      {
        name: 'host2',
        netns: `tl-${name}-host2`,
        address: '172.31.1.12',
        prefixLength: 24,
        segment: 1,
        gateway: '172.31.1.1',
      },
    ],
    workloads: [
      workload('host1', 1, '10.244.0.0'),
      workload('host1', 2, '10.244.0.1'),
      workload('host2', 1, '10.244.0.64'),
      workload('host2', 2, '10.244.0.65'),
    ],
    processes: [],
    pool: { name: 'lab-ipv4-pool', cidr: '10.244.0.0/16', blockSize: 26, vxlanMode: 'Never' },
    resources: [
      { kind: 'IPPool', name: 'lab-ipv4-pool' },
      { kind: 'Node', name: 'host1' },
      { kind: 'Node', name: 'host2' },
    ],
  };
}
