// Numbers and names that Tortie's dataplane shares with the rest of the host.

/**
 * The route protocol (`ip route ... proto 80`) of every route Tortie programs:
 * workload /32 and /128 routes from the CNI plugin and the agent's routes.
 * 80 is the number Calico's Felix gives its own routes, so a host's routes can
 * be told apart by owner: `ip route show proto 80` lists exactly Tortie's, and
 * BIRD's (proto bird = 12) or the kernel's (proto kernel = 2) are never ours.
 * The agent may delete any route of this protocol that it does not want.
 */
export const TORTIE_ROUTE_PROTOCOL = 80;

/** Host-side name prefix of workload veths: `cali` + 11 hex characters. */
export const WORKLOAD_IFACE_PREFIX = 'cali';

/** The MAC every host-side workload veth carries, as in Calico. */
export const WORKLOAD_HOST_MAC = 'ee:ee:ee:ee:ee:ee';

/** The IPv4 next hop every workload routes through; the host end answers ARP for it (proxy ARP). */
export const WORKLOAD_GATEWAY_V4 = '169.254.1.1';

/**
 * The IPv6 next hop of workloads: the link-local address that the host end's
 * fixed MAC (ee:ee:ee:ee:ee:ee) gives by EUI-64.
 */
export const WORKLOAD_GATEWAY_V6 = 'fe80::ecee:eeff:feee:eeee';
