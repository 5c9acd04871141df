// The host's interfaces and their addresses (`ip -json addr`), for host
// endpoints that name their addresses (expectedIPs) and not their interface.

import { execFile } from 'node:child_process';

/** Interface name -> its addresses, in the caller's namespace or `netns`. */
export function interfaceAddresses(netns?: string): Promise<Map<string, string[]>> {
  const argv = [...(netns ? ['-n', netns] : []), '-json', 'addr', 'show'];
  return new Promise((resolve, reject) => {
    execFile('ip', argv, { maxBuffer: 1 << 26 }, (err, stdout) => {
      if (err) return reject(err);
      resolve(parseInterfaceAddresses(stdout));
    });
  });
}

export function parseInterfaceAddresses(json: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const links = JSON.parse(json) as { ifname?: string; addr_info?: { local?: string }[] }[];
  for (const link of links) {
    if (!link.ifname) continue;
    out.set(
      link.ifname,
      (link.addr_info ?? []).flatMap((a) => (a.local ? [a.local.toLowerCase()] : [])),
    );
  }
  return out;
}
