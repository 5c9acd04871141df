// Text renderings for the CLI: `lab status` and the end of `lab up`.

import type { LabState } from './state.js';

/** Left-aligned columns, three spaces apart; the last column is not padded. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function gatewayKind(state: LabState, gateway: string): string {
  if (state.router) return ' (router)';
  if (state.gateway?.address === gateway) return ' (external router)';
  const host = state.hosts.find((h) => h.address === gateway || h.coreAddress === gateway);
  if (host) return ` (${host.name})`;
  return ' (bridge)';
}

export function formatStatus(state: LabState): string {
  const parts: string[] = [];
  const phase =
    state.phase === 'ready'
      ? ''
      : `  [${state.phase}: incomplete; run tortie lab down --name ${state.name}]`;
  parts.push(
    `lab ${state.name}: ${state.topology}, encapsulation ${state.encap}, pool ${state.pool.cidr} (/${state.pool.blockSize} blocks)${phase}\n` +
      `datastore: ${state.datastore.url}${state.datastore.embedded ? ' (embedded)' : ''}\n` +
      (state.bgp
        ? `BGP: ${state.racks ? `${state.racks.count} racks of ${state.racks.hostsPerRack}, one AS per rack, a route reflector each` : 'full mesh, AS 64512'}\n`
        : '') +
      (state.gateway
        ? `external router: ${state.gateway.address} AS ${state.gateway.asNumber} (BIRD 2 in ${state.gateway.netns}, birdc -s ${state.gateway.socket}), outside ${state.gateway.outside.address} (${state.gateway.outside.cidr}) in ${state.gateway.outside.netns}\n`
        : ''),
  );
  parts.push(
    table([
      ['SEGMENT', 'CIDR', 'GATEWAY', 'NETNS', 'BRIDGE'],
      ...state.underlay.map((s) => [
        String(s.segment),
        s.cidr,
        `${s.gateway}${gatewayKind(state, s.gateway)}`,
        s.netns,
        s.bridge,
      ]),
    ]),
  );
  parts.push(
    table([
      ['HOST', 'ADDRESS', 'SEGMENT', 'NETNS', 'PROCESSES'],
      ...state.hosts.map((h) => [
        h.name + (h.routeReflector ? ' (rr)' : ''),
        `${h.address}/${h.prefixLength}${h.coreAddress ? ` core ${h.coreAddress}` : ''}`,
        String(h.segment) + (h.asNumber !== undefined ? ` AS ${h.asNumber}` : ''),
        h.netns,
        state.processes
          .filter((p) => p.host === h.name)
          .map((p) => `${p.role}(${p.pid})`)
          .join(',') || '-',
      ]),
    ]),
  );
  if (state.workloads.length > 0) {
    parts.push(
      table([
        ['WORKLOAD', 'HOST', 'NAMESPACE', 'ADDRESSES', 'HOST IFACE', 'NETNS', 'LABELS'],
        ...state.workloads.map((w) => [
          w.name,
          w.host,
          w.namespace,
          w.addresses.join(','),
          w.hostInterface ?? '-',
          w.netns,
          formatLabels(w.labels),
        ]),
      ]),
    );
  } else {
    parts.push('no workloads\n');
  }
  return parts.join('\n');
}
