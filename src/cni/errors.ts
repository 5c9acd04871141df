// CNI error codes and the one error type every CNI path throws. Codes 1-99
// are the spec's; 100 and up are Tortie's own. Nothing here imports anything,
// so the thin client can use it without loading the plugin.

/** The spec's well-known codes. */
export const ERR_INCOMPATIBLE_VERSION = 1;
export const ERR_UNSUPPORTED_FIELD = 2;
export const ERR_UNKNOWN_CONTAINER = 3;
export const ERR_INVALID_ENV = 4;
export const ERR_IO = 5;
export const ERR_DECODE = 6;
export const ERR_INVALID_CONFIG = 7;
export const ERR_TRY_AGAIN = 11;
/** STATUS: the plugin cannot serve ADD. */
export const ERR_PLUGIN_NOT_AVAILABLE = 50;
/** STATUS: cannot serve ADD, and existing containers may have limited connectivity. */
export const ERR_LIMITED_CONNECTIVITY = 51;

/** Tortie's codes. */
export const ERR_INTERNAL = 100;
/** ADD for a (network, container, interface) that is already attached. */
export const ERR_ALREADY_EXISTS = 101;
/** Every usable pool is full. */
export const ERR_POOL_EXHAUSTED = 102;
/** A pool named in ipv4_pools/ipv6_pools is unknown or unusable, or no pool serves this node. */
export const ERR_NO_POOL = 103;
/** The node has no Node resource. */
export const ERR_UNKNOWN_NODE = 104;
/** CNI_NETNS does not exist. */
export const ERR_NETNS_NOT_FOUND = 105;
/** Programming the kernel failed. */
export const ERR_DATAPLANE = 106;
/** The datastore refused a request in a way a retry will not fix. */
export const ERR_DATASTORE = 107;
/** CHECK found the attachment not as ADD left it. */
export const ERR_CHECK_FAILED = 108;
/** A delegated IPAM plugin failed without a CNI error of its own. */
export const ERR_DELEGATE = 109;

export class CniError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details: string = '',
  ) {
    super(details ? `${msg}: ${details}` : msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): Record<string, unknown> {
    const out: Record<string, unknown> = { cniVersion, code: this.code, msg: this.msg };
    if (this.details) out['details'] = this.details;
    return out;
  }
}
