// NOTIFICATION (RFC 4271 §4.5): encoding, decoding, names for every error
// code and subcode (RFC 4271, RFC 4486, RFC 5492, RFC 6608, RFC 7313,
// RFC 8538, RFC 9234, RFC 9384), and the Shutdown Communication of RFC 9003.

import { CeaseSubcode, ErrorCode, MessageType, type CodecContext } from './constants.js';
import { BgpEncodeError, type NotificationError, type SessionResetError } from './errors.js';
import { beginMessage, endMessage } from './framing.js';
import { ByteWriter, copyBytes } from './wire.js';

export interface NotificationMessage {
  readonly type: 'notification';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

export function decodeNotification(
  buf: Uint8Array,
  start: number,
  end: number,
): NotificationMessage {
  // The header check guarantees at least the two code octets.
  return {
    type: 'notification',
    code: buf[start]!,
    subcode: buf[start + 1]!,
    data: copyBytes(buf, start + 2, end),
  };
}

export function encodeNotification(msg: NotificationMessage, ctx: CodecContext): Uint8Array {
  const w = new ByteWriter(21 + msg.data.length);
  beginMessage(w, MessageType.NOTIFICATION);
  w.u8(msg.code, 'error code');
  w.u8(msg.subcode, 'error subcode');
  w.bytes(msg.data);
  return endMessage(w, MessageType.NOTIFICATION, ctx);
}

/** The NOTIFICATION a fatal decode error asks the session to send. */
export function notificationFor(error: NotificationError | SessionResetError): NotificationMessage {
  return { type: 'notification', code: error.code, subcode: error.subcode, data: error.data };
}

const CODE_NAMES: Readonly<Record<number, string>> = {
  [ErrorCode.MESSAGE_HEADER]: 'Message Header Error',
  [ErrorCode.OPEN_MESSAGE]: 'OPEN Message Error',
  [ErrorCode.UPDATE_MESSAGE]: 'UPDATE Message Error',
  [ErrorCode.HOLD_TIMER_EXPIRED]: 'Hold Timer Expired',
  [ErrorCode.FSM]: 'Finite State Machine Error',
  [ErrorCode.CEASE]: 'Cease',
  [ErrorCode.ROUTE_REFRESH_MESSAGE]: 'ROUTE-REFRESH Message Error',
};

const SUBCODE_NAMES: Readonly<Record<number, readonly (string | undefined)[]>> = {
  [ErrorCode.MESSAGE_HEADER]: [
    'Unspecific',
    'Connection Not Synchronized',
    'Bad Message Length',
    'Bad Message Type',
  ],
  [ErrorCode.OPEN_MESSAGE]: [
    'Unspecific',
    'Unsupported Version Number',
    'Bad Peer AS',
    'Bad BGP Identifier',
    'Unsupported Optional Parameter',
    'Authentication Failure (deprecated)',
    'Unacceptable Hold Time',
    'Unsupported Capability',
    'Deprecated',
    'Deprecated',
    'Deprecated',
    'Role Mismatch',
  ],
  [ErrorCode.UPDATE_MESSAGE]: [
    'Unspecific',
    'Malformed Attribute List',
    'Unrecognized Well-known Attribute',
    'Missing Well-known Attribute',
    'Attribute Flags Error',
    'Attribute Length Error',
    'Invalid ORIGIN Attribute',
    'AS Routing Loop (deprecated)',
    'Invalid NEXT_HOP Attribute',
    'Optional Attribute Error',
    'Invalid Network Field',
    'Malformed AS_PATH',
  ],
  [ErrorCode.HOLD_TIMER_EXPIRED]: ['Unspecific'],
  [ErrorCode.FSM]: [
    'Unspecified Error',
    'Receive Unexpected Message in OpenSent State',
    'Receive Unexpected Message in OpenConfirm State',
    'Receive Unexpected Message in Established State',
  ],
  [ErrorCode.CEASE]: [
    'Unspecific',
    'Maximum Number of Prefixes Reached',
    'Administrative Shutdown',
    'Peer De-configured',
    'Administrative Reset',
    'Connection Rejected',
    'Other Configuration Change',
    'Connection Collision Resolution',
    'Out of Resources',
    'Hard Reset',
    'BFD Down',
  ],
  [ErrorCode.ROUTE_REFRESH_MESSAGE]: ['Reserved', 'Invalid Message Length'],
};

export function errorCodeName(code: number): string {
  return CODE_NAMES[code] ?? `Unknown Error Code ${code}`;
}

export function errorSubcodeName(code: number, subcode: number): string {
  return SUBCODE_NAMES[code]?.[subcode] ?? `Unknown Subcode ${subcode}`;
}

/** "UPDATE Message Error / Malformed AS_PATH". */
export function notificationName(code: number, subcode: number): string {
  return `${errorCodeName(code)} / ${errorSubcodeName(code, subcode)}`;
}

// ---------------------------------------------------------------------------
// Shutdown Communication (RFC 9003): Cease/Administrative Shutdown or Reset
// with a length-prefixed UTF-8 message of at most 255 octets.

/** The operator's message in a Cease/Administrative Shutdown or Reset, if it carries a valid one. */
export function shutdownCommunication(msg: NotificationMessage): string | undefined {
  if (msg.code !== ErrorCode.CEASE) return undefined;
  if (
    msg.subcode !== CeaseSubcode.ADMINISTRATIVE_SHUTDOWN &&
    msg.subcode !== CeaseSubcode.ADMINISTRATIVE_RESET
  ) {
    return undefined;
  }
  const length = msg.data[0];
  if (length === undefined || length === 0 || 1 + length > msg.data.length) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(msg.data.subarray(1, 1 + length));
  } catch {
    return undefined;
  }
}

/** A Cease/Administrative Shutdown (or Reset) carrying an operator's message (RFC 9003). */
export function shutdownNotification(
  text: string,
  subcode: number = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
): NotificationMessage {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > 255)
    throw new BgpEncodeError(
      'out-of-range',
      `shutdown communication of ${bytes.length} octets exceeds 255`,
    );
  const data = new Uint8Array(1 + bytes.length);
  data[0] = bytes.length;
  data.set(bytes, 1);
  return { type: 'notification', code: ErrorCode.CEASE, subcode, data };
}

/** Cease/Maximum Number of Prefixes Reached with AFI, SAFI and the limit as data (RFC 4486 §4). */
export function maxPrefixesNotification(
  afi: number,
  safi: number,
  limit: number,
): NotificationMessage {
  const w = new ByteWriter(7);
  w.u16(afi, 'AFI');
  w.u8(safi, 'SAFI');
  w.u32(limit, 'prefix limit');
  return {
    type: 'notification',
    code: ErrorCode.CEASE,
    subcode: CeaseSubcode.MAXIMUM_PREFIXES_REACHED,
    data: w.finish(),
  };
}
