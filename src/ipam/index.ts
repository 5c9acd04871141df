// Tortie IPAM: Calico's block/affinity/handle design on the Datastore interface.
// See docs/ipam.md.

export {
  Ipam,
  type AssignIPArgs,
  type AutoAssignArgs,
  type AutoAssignResult,
  type HolderInfo,
  type IpamOptions,
  type IpamUsage,
  type ReleaseItem,
  type ReleaseResult,
} from './allocator.js';
export * from './errors.js';
export {
  DEFAULT_GRACE_SECONDS,
  IpamGarbageCollector,
  checkIpam,
  parseReport,
  releaseFromReport,
  reportHasProblems,
  type IpamReport,
  type ReleaseFromReportResult,
} from './gc.js';
export { workloadHandle, tunnelHandleNode, TUNNEL_HANDLE_PREFIXES } from './handle.js';
export { DEFAULT_IPAM_CONFIG, type IpamConfig, type IpamInputs, type IpamUse } from './inputs.js';
export { checkConsistency } from './verify.js';
