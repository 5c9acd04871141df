// OPEN (RFC 4271 §4.2) with the Capabilities optional parameter (RFC 5492)
// and Extended Optional Parameters Length (RFC 9072); the checks of
// RFC 4271 §6.2 that need no configuration happen while decoding, the others
// in validateOpen.

import {
  BGP_VERSION,
  ErrorCode,
  MessageType,
  OpenSubcode,
  OptParamType,
  type CodecContext,
} from './constants.js';
import {
  capabilityLength,
  decodeCapabilities,
  myAsField,
  openAsn,
  writeCapability,
  type Capability,
  type Family,
} from './capabilities.js';
import { notificationError, type NotificationError } from './errors.js';
import { beginMessage, endMessage } from './framing.js';
import { formatIPv4, parseIPv4, writeIPv4 } from './nlri.js';
import { ByteWriter, u16 } from './wire.js';

export interface OpenMessage {
  readonly type: 'open';
  /** Always 4: any other version is refused while decoding. */
  readonly version: number;
  /** The 2-octet My AS field; AS_TRANS (23456) when the real ASN is in the four-octet-as capability. */
  readonly myAs: number;
  /** Seconds; 0 or at least 3. */
  readonly holdTime: number;
  /** BGP Identifier as a dotted quad. */
  readonly bgpId: string;
  /** Every capability, from every Capabilities parameter, in order. */
  readonly capabilities: readonly Capability[];
}

export type OpenDecodeResult =
  | { readonly ok: true; readonly message: OpenMessage }
  | { readonly ok: false; readonly error: NotificationError };

function openError(subcode: number, reason: string, data?: Uint8Array): OpenDecodeResult {
  return { ok: false, error: notificationError(ErrorCode.OPEN_MESSAGE, subcode, reason, data) };
}

/** Decodes an OPEN body buf[start..end) (after the header). Never throws. */
export function decodeOpen(buf: Uint8Array, start: number, end: number): OpenDecodeResult {
  if (end - start < 10) return openError(OpenSubcode.UNSPECIFIC, 'OPEN shorter than 29 octets');
  const version = buf[start]!;
  // RFC 4271 §6.2: the data is the largest version we support below the one
  // offered, or the smallest we support: 4 either way.
  if (version !== BGP_VERSION) {
    return openError(
      OpenSubcode.UNSUPPORTED_VERSION_NUMBER,
      `BGP version ${version}`,
      Uint8Array.of(0, BGP_VERSION),
    );
  }
  const myAs = u16(buf, start + 1);
  const holdTime = u16(buf, start + 3);
  const bgpId = formatIPv4(buf, start + 5);
  let optLength = buf[start + 9]!;
  let p = start + 10;
  let extended = false;
  // RFC 9072 §2: a first parameter of type 255 announces 2-octet lengths.
  if (optLength > 0 && p < end && buf[p] === OptParamType.EXTENDED_LENGTH) {
    if (end - p < 3)
      return openError(OpenSubcode.UNSPECIFIC, 'extended optional parameters length cut off');
    optLength = u16(buf, p + 1);
    p += 3;
    extended = true;
  }
  const optEnd = p + optLength;
  if (optEnd !== end) {
    return openError(
      OpenSubcode.UNSPECIFIC,
      `optional parameters length ${optLength} does not match the message (${end - p} octets follow)`,
    );
  }
  const capabilities: Capability[] = [];
  const headerSize = extended ? 3 : 2;
  while (p < optEnd) {
    if (optEnd - p < headerSize)
      return openError(OpenSubcode.UNSPECIFIC, 'optional parameter header cut off');
    const type = buf[p]!;
    const length = extended ? u16(buf, p + 1) : buf[p + 1]!;
    const v = p + headerSize;
    if (v + length > optEnd) {
      return openError(
        OpenSubcode.UNSPECIFIC,
        `optional parameter ${type} overruns the parameters`,
      );
    }
    p = v + length;
    if (type !== OptParamType.CAPABILITIES) {
      return openError(
        OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER,
        `optional parameter type ${type}`,
      );
    }
    const bad = decodeCapabilities(buf, v, v + length, capabilities);
    if (bad !== undefined) return openError(OpenSubcode.UNSPECIFIC, bad);
  }
  const message: OpenMessage = { type: 'open', version, myAs, holdTime, bgpId, capabilities };
  // RFC 4271 §6.2: hold time 1 or 2 is unacceptable.
  if (holdTime === 1 || holdTime === 2) {
    return openError(OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime}`);
  }
  // RFC 6286 §2.2: the identifier is a non-zero 4-octet number.
  if (bgpId === '0.0.0.0')
    return openError(OpenSubcode.BAD_BGP_IDENTIFIER, 'BGP identifier 0.0.0.0');
  // RFC 7607 §2: AS 0 in OPEN is Bad Peer AS.
  if (myAs === 0 || openAsn(message) === 0) return openError(OpenSubcode.BAD_PEER_AS, 'AS 0');
  return { ok: true, message };
}

/** Writes an OPEN (with header). Throws BgpEncodeError. */
export function encodeOpen(msg: OpenMessage, ctx: CodecContext): Uint8Array {
  const w = new ByteWriter(128);
  beginMessage(w, MessageType.OPEN);
  w.u8(msg.version, 'version');
  w.u16(msg.myAs, 'My AS');
  w.u16(msg.holdTime, 'hold time');
  writeIPv4(w, msg.bgpId, 'BGP identifier');
  let capLength = 0;
  for (const c of msg.capabilities) capLength += capabilityLength(c);
  if (msg.capabilities.length === 0) {
    w.u8(0);
  } else if (capLength + 2 <= 255) {
    w.u8(capLength + 2);
    w.u8(OptParamType.CAPABILITIES);
    w.u8(capLength);
    for (const c of msg.capabilities) writeCapability(w, c);
  } else {
    // RFC 9072: only when the parameters do not fit a 1-octet length.
    w.u8(255);
    w.u8(OptParamType.EXTENDED_LENGTH);
    w.u16(capLength + 3, 'optional parameters length');
    w.u8(OptParamType.CAPABILITIES);
    w.u16(capLength, 'capabilities length');
    for (const c of msg.capabilities) writeCapability(w, c);
  }
  return endMessage(w, MessageType.OPEN, ctx);
}

export interface OpenOptions {
  readonly asn: number;
  readonly holdTime: number;
  readonly bgpId: string;
  /** Families to advertise with multiprotocol capabilities. Default: IPv4 and IPv6 unicast. */
  readonly families?: readonly Family[];
  /** Further capabilities (route refresh, graceful restart, ...). four-octet-as is always added. */
  readonly capabilities?: readonly Capability[];
}

/** An OPEN for a local speaker: My AS is AS_TRANS above 65535, the four-octet-as capability carries the ASN. */
export function makeOpen(options: OpenOptions): OpenMessage {
  const families = options.families ?? [
    { afi: 1, safi: 1 },
    { afi: 2, safi: 1 },
  ];
  const extra = (options.capabilities ?? []).filter((c) => c.kind !== 'four-octet-as');
  return {
    type: 'open',
    version: BGP_VERSION,
    myAs: myAsField(options.asn),
    holdTime: options.holdTime,
    bgpId: options.bgpId,
    capabilities: [
      ...families.map((f): Capability => ({ kind: 'multiprotocol', afi: f.afi, safi: f.safi })),
      ...extra,
      { kind: 'four-octet-as', asn: options.asn },
    ],
  };
}

export interface OpenExpectations {
  /** The configured peer ASN; a different one is Bad Peer AS (RFC 4271 §6.2). */
  readonly peerAs?: number;
  /** Local ASN and identifier: an internal peer with our identifier is Bad BGP Identifier (RFC 6286 §2.2). */
  readonly localAs?: number;
  readonly localBgpId?: string;
  /** Smallest non-zero hold time accepted (RFC 4271 §6.2 lets an implementation refuse more). */
  readonly minHoldTime?: number;
  /** Capabilities the peer must advertise, else Unsupported Capability listing them (RFC 5492 §5). */
  readonly requiredCapabilities?: readonly Capability[];
}

function advertises(open: OpenMessage, required: Capability): boolean {
  return open.capabilities.some((c) => {
    if (c.kind !== required.kind) return false;
    if (c.kind === 'multiprotocol' && required.kind === 'multiprotocol') {
      return c.afi === required.afi && c.safi === required.safi;
    }
    if (c.kind === 'unknown' && required.kind === 'unknown') return c.code === required.code;
    return true;
  });
}

/** The checks of a received OPEN that need configuration. Returns the NOTIFICATION to send, if any. */
export function validateOpen(
  open: OpenMessage,
  expect: OpenExpectations,
): NotificationError | undefined {
  const asn = openAsn(open);
  if (expect.peerAs !== undefined && asn !== expect.peerAs) {
    return notificationError(
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.BAD_PEER_AS,
      `peer AS ${asn}, expected ${expect.peerAs}`,
    );
  }
  if (
    expect.localBgpId !== undefined &&
    expect.localAs !== undefined &&
    asn === expect.localAs &&
    parseIPv4(open.bgpId) === parseIPv4(expect.localBgpId)
  ) {
    return notificationError(
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.BAD_BGP_IDENTIFIER,
      `internal peer uses our identifier ${open.bgpId}`,
    );
  }
  if (
    expect.minHoldTime !== undefined &&
    open.holdTime !== 0 &&
    open.holdTime < expect.minHoldTime
  ) {
    return notificationError(
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.UNACCEPTABLE_HOLD_TIME,
      `hold time ${open.holdTime}`,
    );
  }
  const missing = (expect.requiredCapabilities ?? []).filter((c) => !advertises(open, c));
  if (missing.length > 0) return unsupportedCapability(missing);
  return undefined;
}

/** Unsupported Capability (2/7) listing the capabilities the peer lacks (RFC 5492 §5). */
export function unsupportedCapability(capabilities: readonly Capability[]): NotificationError {
  const w = new ByteWriter(64);
  for (const c of capabilities) writeCapability(w, c);
  return notificationError(
    ErrorCode.OPEN_MESSAGE,
    OpenSubcode.UNSUPPORTED_CAPABILITY,
    `peer lacks capabilities ${capabilities.map((c) => c.kind).join(', ')}`,
    w.finish(),
  );
}
