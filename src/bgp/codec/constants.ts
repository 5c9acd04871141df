// Numbers of the BGP-4 wire format: message types, sizes, AFI/SAFI, path
// attribute type codes and flags, capability codes, NOTIFICATION codes.
// Every number here is from an RFC, named in the comment beside it.

/** RFC 4271 §4.1: 16 octets of all ones, a 2-octet length and a 1-octet type. */
export const HEADER_LENGTH = 19;
export const MARKER_LENGTH = 16;
/** RFC 4271 §4: the largest message without the extended-message capability. */
export const MAX_MESSAGE_LENGTH = 4096;
/** RFC 8654: the largest message once both sides advertised capability 6. */
export const MAX_EXTENDED_MESSAGE_LENGTH = 65535;

/** RFC 4271 §4.1, RFC 2918 §3. */
export const MessageType = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;

/** Minimum length of each message type, header included (RFC 4271 §4.2-4.5, RFC 2918 §3). */
export const MIN_LENGTH: Readonly<Record<number, number>> = {
  [MessageType.OPEN]: 29,
  [MessageType.UPDATE]: 23,
  [MessageType.NOTIFICATION]: 21,
  [MessageType.KEEPALIVE]: 19,
  [MessageType.ROUTE_REFRESH]: 23,
};

export const BGP_VERSION = 4;
/** RFC 6793 §9: the 2-octet stand-in for a 4-octet AS number. */
export const AS_TRANS = 23456;

/** RFC 4760 §3 (IANA "Address Family Numbers"). */
export const Afi = { IPV4: 1, IPV6: 2 } as const;
/** RFC 4760 §6 (IANA "SAFI Values"). */
export const Safi = { UNICAST: 1, MULTICAST: 2 } as const;

/** RFC 4271 §4.3: the high-order bits of the Attribute Flags octet. */
export const AttrFlag = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

/** IANA "BGP Path Attributes". */
export const AttrType = {
  ORIGIN: 1, // RFC 4271
  AS_PATH: 2, // RFC 4271
  NEXT_HOP: 3, // RFC 4271
  MULTI_EXIT_DISC: 4, // RFC 4271
  LOCAL_PREF: 5, // RFC 4271
  ATOMIC_AGGREGATE: 6, // RFC 4271
  AGGREGATOR: 7, // RFC 4271
  COMMUNITIES: 8, // RFC 1997
  ORIGINATOR_ID: 9, // RFC 4456
  CLUSTER_LIST: 10, // RFC 4456
  MP_REACH_NLRI: 14, // RFC 4760
  MP_UNREACH_NLRI: 15, // RFC 4760
  EXTENDED_COMMUNITIES: 16, // RFC 4360
  AS4_PATH: 17, // RFC 6793
  AS4_AGGREGATOR: 18, // RFC 6793
  LARGE_COMMUNITIES: 32, // RFC 8092
} as const;

/** The Optional and Transitive bits each recognised attribute must carry. */
export const EXPECTED_ATTR_FLAGS: Readonly<Record<number, number>> = {
  [AttrType.ORIGIN]: AttrFlag.TRANSITIVE,
  [AttrType.AS_PATH]: AttrFlag.TRANSITIVE,
  [AttrType.NEXT_HOP]: AttrFlag.TRANSITIVE,
  [AttrType.MULTI_EXIT_DISC]: AttrFlag.OPTIONAL,
  [AttrType.LOCAL_PREF]: AttrFlag.TRANSITIVE,
  [AttrType.ATOMIC_AGGREGATE]: AttrFlag.TRANSITIVE,
  [AttrType.AGGREGATOR]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
  [AttrType.COMMUNITIES]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
  [AttrType.ORIGINATOR_ID]: AttrFlag.OPTIONAL,
  [AttrType.CLUSTER_LIST]: AttrFlag.OPTIONAL,
  [AttrType.MP_REACH_NLRI]: AttrFlag.OPTIONAL,
  [AttrType.MP_UNREACH_NLRI]: AttrFlag.OPTIONAL,
  [AttrType.EXTENDED_COMMUNITIES]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
  [AttrType.AS4_PATH]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
  [AttrType.AS4_AGGREGATOR]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
  [AttrType.LARGE_COMMUNITIES]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
};

/** RFC 4271 §4.3 ORIGIN values. */
export const Origin = { IGP: 0, EGP: 1, INCOMPLETE: 2 } as const;
export type Origin = (typeof Origin)[keyof typeof Origin];

/** RFC 4271 §4.3 and RFC 5065 §3: AS_PATH segment types. */
export const SegmentType = {
  AS_SET: 1,
  AS_SEQUENCE: 2,
  AS_CONFED_SEQUENCE: 3,
  AS_CONFED_SET: 4,
} as const;

/** RFC 1997 and IANA "BGP Well-known Communities". */
export const WellKnownCommunity = {
  GRACEFUL_SHUTDOWN: 0xffff0000, // RFC 8326
  BLACKHOLE: 0xffff029a, // RFC 7999
  NO_EXPORT: 0xffffff01,
  NO_ADVERTISE: 0xffffff02,
  NO_EXPORT_SUBCONFED: 0xffffff03,
  NOPEER: 0xffffff04, // RFC 3765
} as const;

/** RFC 5492 §4 optional parameter type for capabilities; RFC 9072 extended length marker. */
export const OptParamType = { CAPABILITIES: 2, EXTENDED_LENGTH: 255 } as const;

/** IANA "Capability Codes". */
export const CapabilityCode = {
  MULTIPROTOCOL: 1, // RFC 4760
  ROUTE_REFRESH: 2, // RFC 2918
  EXTENDED_MESSAGE: 6, // RFC 8654
  GRACEFUL_RESTART: 64, // RFC 4724
  FOUR_OCTET_AS: 65, // RFC 6793
  ADD_PATH: 69, // RFC 7911
  ENHANCED_ROUTE_REFRESH: 70, // RFC 7313
  ROUTE_REFRESH_CISCO: 128, // pre-standard route refresh, still sent by some speakers
} as const;

/** RFC 4724 §3: bits of the 4-bit Restart Flags field and the per-AFI flags octet. */
export const GracefulRestartFlag = {
  RESTART_STATE: 0x8, // R
  NOTIFICATION: 0x4, // N, RFC 8538
  FORWARDING_STATE: 0x80, // F, per address family
} as const;

/** RFC 2918 / RFC 7313 §3 ROUTE-REFRESH message subtypes. */
export const RouteRefreshSubtype = { NORMAL: 0, BORR: 1, EORR: 2 } as const;

/** RFC 4271 §4.5 and IANA "BGP Error (Notification) Codes". */
export const ErrorCode = {
  MESSAGE_HEADER: 1,
  OPEN_MESSAGE: 2,
  UPDATE_MESSAGE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH_MESSAGE: 7, // RFC 7313
} as const;

/** RFC 4271 §6.1. */
export const HeaderSubcode = {
  UNSPECIFIC: 0,
  CONNECTION_NOT_SYNCHRONIZED: 1,
  BAD_MESSAGE_LENGTH: 2,
  BAD_MESSAGE_TYPE: 3,
} as const;

/** RFC 4271 §6.2, RFC 5492 §5, RFC 9234. */
export const OpenSubcode = {
  UNSPECIFIC: 0,
  UNSUPPORTED_VERSION_NUMBER: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_IDENTIFIER: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
  ROLE_MISMATCH: 11,
} as const;

/** RFC 4271 §6.3. */
export const UpdateSubcode = {
  UNSPECIFIC: 0,
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: 2,
  MISSING_WELL_KNOWN_ATTRIBUTE: 3,
  ATTRIBUTE_FLAGS_ERROR: 4,
  ATTRIBUTE_LENGTH_ERROR: 5,
  INVALID_ORIGIN_ATTRIBUTE: 6,
  INVALID_NEXT_HOP_ATTRIBUTE: 8,
  OPTIONAL_ATTRIBUTE_ERROR: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

/** RFC 6608. */
export const FsmSubcode = {
  UNSPECIFIED: 0,
  UNEXPECTED_MESSAGE_IN_OPENSENT: 1,
  UNEXPECTED_MESSAGE_IN_OPENCONFIRM: 2,
  UNEXPECTED_MESSAGE_IN_ESTABLISHED: 3,
} as const;

/** RFC 4486, RFC 8538 (Hard Reset), RFC 9384 (BFD Down). */
export const CeaseSubcode = {
  MAXIMUM_PREFIXES_REACHED: 1,
  ADMINISTRATIVE_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMINISTRATIVE_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIGURATION_CHANGE: 6,
  CONNECTION_COLLISION_RESOLUTION: 7,
  OUT_OF_RESOURCES: 8,
  HARD_RESET: 9,
  BFD_DOWN: 10,
} as const;

/** RFC 7313 §5. */
export const RouteRefreshErrorSubcode = { INVALID_MESSAGE_LENGTH: 1 } as const;

// ---------------------------------------------------------------------------
// The codec context: what a session negotiated that changes the bytes.

/** Families whose NLRI carry an RFC 7911 path identifier, in one direction. */
export interface AddPathFamilies {
  readonly ipv4Unicast?: boolean;
  readonly ipv6Unicast?: boolean;
}

/**
 * What the session negotiated that changes the wire format. A session keeps
 * one context for what it receives and one for what it sends (ADD-PATH can
 * differ by direction); before the OPEN exchange completes use
 * INITIAL_CONTEXT.
 */
export interface CodecContext {
  /** RFC 6793: both sides advertised capability 65; AS numbers are 4 octets in AS_PATH and AGGREGATOR. */
  readonly fourOctetAs: boolean;
  /** RFC 7911: families whose NLRI carry a path identifier in this direction. */
  readonly addPath?: AddPathFamilies;
  /** RFC 8654: both sides advertised capability 6; messages other than OPEN and KEEPALIVE may be up to 65535 octets. */
  readonly extendedMessage?: boolean;
}

export const INITIAL_CONTEXT: CodecContext = Object.freeze({ fourOctetAs: false });
