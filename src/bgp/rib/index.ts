// The RIB's public surface.
export { addressKey, ipv4Number, selectBest, type Candidate } from './best-path.js';
export {
  Rib,
  RibPeer,
  Route,
  afiFamily,
  familyAfi,
  familyOf,
  type AddressFamily,
  type BestRoute,
  type Announced,
  type DrainResult,
  type LocRibChange,
  type OriginateOptions,
  type OutRoute,
  type PeerOutput,
  type RibOptions,
  type RibPeerConfig,
  type SessionInfo,
} from './rib.js';
