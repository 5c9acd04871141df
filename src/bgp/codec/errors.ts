// What the codec tells its caller when bytes are wrong (decode) or a value
// cannot be put on the wire (encode).
//
// Decoding never throws. It returns a DecodeError whose `action` says what the
// session must do, following RFC 4271 §6 and the revisions of RFC 7606:
//
//   notification       send NOTIFICATION(code, subcode, data), close (RFC 4271 §6)
//   session-reset      the same, for an UPDATE whose error RFC 7606 still
//                      treats as fatal (NLRI cannot be located, MP_* broken)
//   treat-as-withdraw  RFC 7606 §2: keep the session, withdraw every prefix the
//                      UPDATE carried (listed in `withdrawn`)
//   attribute-discard  RFC 7606 §2: keep the session, process `update`, from
//                      which the offending attributes were removed
//
// For the last two, code/subcode/data name the error a NOTIFICATION would have
// carried under RFC 4271, for logs and counters; nothing is sent.

import type { UpdateMessage } from './update.js';
import type { Prefix } from './nlri.js';

export type DecodeAction =
  'notification' | 'session-reset' | 'treat-as-withdraw' | 'attribute-discard';

/** Order of strength (RFC 7606 §3 h: when errors differ, the strongest action wins). */
const STRENGTH: Readonly<Record<DecodeAction, number>> = {
  'attribute-discard': 1,
  'treat-as-withdraw': 2,
  'session-reset': 3,
  notification: 3,
};

export function strongerAction(a: DecodeAction, b: DecodeAction): DecodeAction {
  return STRENGTH[b] > STRENGTH[a] ? b : a;
}

interface ErrorBase {
  /** NOTIFICATION Error Code (RFC 4271 §4.5). */
  readonly code: number;
  readonly subcode: number;
  /** NOTIFICATION Data field, ready to send. Never aliases the decoded input. */
  readonly data: Uint8Array;
  /** Human-readable cause, for logs. */
  readonly reason: string;
}

/** One malformation found in an UPDATE, with the reaction RFC 7606 gives it. */
export interface UpdateProblem extends ErrorBase {
  readonly action: Exclude<DecodeAction, 'notification'>;
  /** Path attribute type code, when the problem is in one attribute. */
  readonly attributeType?: number;
}

export interface NotificationError extends ErrorBase {
  readonly action: 'notification';
}

export interface SessionResetError extends ErrorBase {
  readonly action: 'session-reset';
  readonly problems: readonly UpdateProblem[];
}

/** The prefixes of one address family, as the RIB keys them. */
export interface FamilyPrefixes {
  readonly afi: number;
  readonly safi: number;
  readonly prefixes: Prefix[];
  /** RFC 7911 path identifiers, index-aligned with prefixes, when ADD-PATH is on. */
  readonly pathIds?: number[];
}

export interface TreatAsWithdrawError extends ErrorBase {
  readonly action: 'treat-as-withdraw';
  /** Everything the UPDATE withdrew or announced, per family: withdraw all of it. */
  readonly withdrawn: readonly FamilyPrefixes[];
  readonly problems: readonly UpdateProblem[];
}

export interface AttributeDiscardError extends ErrorBase {
  readonly action: 'attribute-discard';
  /** The UPDATE with the malformed (or duplicate) attributes removed: process it. */
  readonly update: UpdateMessage;
  /** Type codes of the attributes that were dropped. */
  readonly discarded: readonly number[];
  readonly problems: readonly UpdateProblem[];
}

export type DecodeError =
  NotificationError | SessionResetError | TreatAsWithdrawError | AttributeDiscardError;

export const EMPTY_DATA: Uint8Array = new Uint8Array(0);

export function notificationError(
  code: number,
  subcode: number,
  reason: string,
  data: Uint8Array = EMPTY_DATA,
): NotificationError {
  return { action: 'notification', code, subcode, data, reason };
}

export function problem(
  action: UpdateProblem['action'],
  code: number,
  subcode: number,
  reason: string,
  data: Uint8Array = EMPTY_DATA,
  attributeType?: number,
): UpdateProblem {
  return attributeType === undefined
    ? { action, code, subcode, data, reason }
    : { action, code, subcode, data, reason, attributeType };
}

/** True when the session must send a NOTIFICATION and close. */
export function isFatal(error: DecodeError): error is NotificationError | SessionResetError {
  return error.action === 'notification' || error.action === 'session-reset';
}

// ---------------------------------------------------------------------------
// Encoding

export type EncodeErrorKind =
  | 'out-of-range' // a number does not fit its field
  | 'invalid-address' // not a dotted quad / IPv6 address
  | 'invalid-prefix' // not a canonical "address/length"
  | 'invalid-attribute' // an attribute that cannot be encoded as given
  | 'invalid-message' // a message that cannot be encoded as given
  | 'message-too-long'; // over 4096 (or 65535 with extended messages)

/** Thrown by the encoders: the value given cannot be put on the wire. */
export class BgpEncodeError extends Error {
  override name = 'BgpEncodeError';
  constructor(
    readonly kind: EncodeErrorKind,
    message: string,
  ) {
    super(message);
  }
}
