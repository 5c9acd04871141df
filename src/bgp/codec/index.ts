// The BGP wire codec: the only place in Tortie where BGP bytes are read or
// written. Everything above it (FSM, RIB, speaker) handles the message values
// defined here.
//
//   encodeMessage(message, ctx)  → Uint8Array            (throws BgpEncodeError)
//   decodeMessage(bytes, ctx)    → { ok: true, message } | { ok: false, error }
//   new MessageReader(ctx)       → stream of decode results from TCP chunks
//
// decodeMessage never throws and never returns a view of its input.

import {
  ErrorCode,
  HEADER_LENGTH,
  HeaderSubcode,
  INITIAL_CONTEXT,
  MARKER_LENGTH,
  MIN_LENGTH,
  MessageType,
  type CodecContext,
} from './constants.js';
import { BgpEncodeError, notificationError, type DecodeError } from './errors.js';
import { beginMessage, checkHeader, endMessage, maxLengthFor } from './framing.js';
import {
  decodeNotification,
  encodeNotification,
  type NotificationMessage,
} from './notification.js';
import { decodeOpen, encodeOpen, type OpenMessage } from './open.js';
import {
  decodeRouteRefresh,
  encodeRouteRefresh,
  type RouteRefreshMessage,
} from './route-refresh.js';
import { decodeUpdate, encodeUpdateMessage, type UpdateMessage } from './update.js';
import { ByteWriter, copyBytes } from './wire.js';

export interface KeepaliveMessage {
  readonly type: 'keepalive';
}

export type BgpMessage =
  OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

export type MessageKind = BgpMessage['type'];

export type DecodeResult =
  | { readonly ok: true; readonly message: BgpMessage }
  | { readonly ok: false; readonly error: DecodeError };

const TYPE_NUMBERS: Readonly<Record<MessageKind, number>> = {
  open: MessageType.OPEN,
  update: MessageType.UPDATE,
  notification: MessageType.NOTIFICATION,
  keepalive: MessageType.KEEPALIVE,
  'route-refresh': MessageType.ROUTE_REFRESH,
};

/** Encodes one message, header included. Throws BgpEncodeError if a value cannot be encoded. */
export function encodeMessage(
  message: BgpMessage,
  ctx: CodecContext = INITIAL_CONTEXT,
): Uint8Array {
  switch (message.type) {
    case 'open':
      return encodeOpen(message, ctx);
    case 'update':
      return encodeUpdateMessage(message, ctx);
    case 'notification':
      return encodeNotification(message, ctx);
    case 'keepalive': {
      const w = new ByteWriter(HEADER_LENGTH);
      beginMessage(w, MessageType.KEEPALIVE);
      return endMessage(w, MessageType.KEEPALIVE, ctx);
    }
    case 'route-refresh':
      return encodeRouteRefresh(message, ctx);
    default:
      throw new BgpEncodeError(
        'invalid-message',
        `unknown message type ${JSON.stringify((message as { type?: unknown }).type)}`,
      );
  }
}

function badLength(bytes: Uint8Array, reason: string): DecodeResult {
  const data =
    bytes.length >= MARKER_LENGTH + 2
      ? copyBytes(bytes, MARKER_LENGTH, MARKER_LENGTH + 2)
      : undefined;
  return {
    ok: false,
    error: notificationError(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      reason,
      data,
    ),
  };
}

function decodeChecked(bytes: Uint8Array, ctx: CodecContext): DecodeResult {
  if (bytes.length < HEADER_LENGTH)
    return badLength(bytes, `${bytes.length} octets is shorter than a header`);
  const checked = checkHeader(bytes, 0, ctx);
  if (typeof checked !== 'number') return { ok: false, error: checked };
  const length = checked;
  if (length !== bytes.length) {
    return badLength(bytes, `length field ${length} but ${bytes.length} octets given`);
  }
  const type = bytes[18]!;
  const min = MIN_LENGTH[type];
  // RFC 4271 §6.1: an unknown type → Bad Message Type with the type as data.
  if (min === undefined) {
    return {
      ok: false,
      error: notificationError(
        ErrorCode.MESSAGE_HEADER,
        HeaderSubcode.BAD_MESSAGE_TYPE,
        `message type ${type}`,
        Uint8Array.of(type),
      ),
    };
  }
  // RFC 4271 §6.1: per-type minimum (KEEPALIVE exactly 19); RFC 8654 §4: OPEN and KEEPALIVE stay within 4096.
  if (
    length < min ||
    (type === MessageType.KEEPALIVE && length !== min) ||
    length > maxLengthFor(type, ctx)
  ) {
    return badLength(bytes, `length ${length} is not valid for message type ${type}`);
  }
  switch (type) {
    case MessageType.OPEN:
      return decodeOpen(bytes, HEADER_LENGTH, length);
    case MessageType.UPDATE:
      return decodeUpdate(bytes, HEADER_LENGTH, length, ctx);
    case MessageType.NOTIFICATION:
      return { ok: true, message: decodeNotification(bytes, HEADER_LENGTH, length) };
    case MessageType.KEEPALIVE:
      return { ok: true, message: KEEPALIVE };
    default:
      return decodeRouteRefresh(bytes, HEADER_LENGTH, length);
  }
}

const KEEPALIVE: KeepaliveMessage = Object.freeze({ type: 'keepalive' });

/** Prefix of the reason given when the decoder itself failed (never expected; the fuzz tests look for it). */
export const INTERNAL_ERROR_REASON = 'internal decoder error';

/**
 * Decodes exactly one message (header included). Never throws: malformed
 * input gives a DecodeError whose `action` says what the session must do.
 */
export function decodeMessage(
  bytes: Uint8Array,
  ctx: CodecContext = INITIAL_CONTEXT,
): DecodeResult {
  try {
    return decodeChecked(bytes, ctx);
  } catch (e) {
    // A bug, not an input problem: still answer with something the session can act on.
    const type = bytes instanceof Uint8Array && bytes.length > 18 ? bytes[18]! : 0;
    const code = type >= 1 && type <= 3 ? type : ErrorCode.MESSAGE_HEADER;
    return {
      ok: false,
      error: notificationError(
        code,
        0,
        `${INTERNAL_ERROR_REASON}: ${e instanceof Error ? e.message : String(e)}`,
      ),
    };
  }
}

/** The message type octet name, for logs. */
export function messageKind(type: number): MessageKind | undefined {
  return (Object.keys(TYPE_NUMBERS) as MessageKind[]).find((k) => TYPE_NUMBERS[k] === type);
}

// Re-exports: the codec's public surface.
export * from './constants.js';
export * from './errors.js';
export { MessageReader, type ReadResult } from './framing.js';
export {
  canonicalPrefix,
  formatIPv4,
  formatIPv6,
  isIPv4,
  isIPv6,
  parsePrefix,
  prefixAfi,
  type ParsedPrefix,
  type Prefix,
} from './nlri.js';
export {
  asPathLength,
  encodeAttributes,
  isPartial,
  readvertise,
  reconstructAsPath,
  type Aggregator,
  type AsPathSegment,
  type LargeCommunity,
  type MpReach,
  type MpUnreach,
  type PathAttributes,
  type SegmentKind,
  type UnknownAttribute,
} from './attributes.js';
export {
  encodeAnnouncements,
  encodeWithdrawals,
  endOfRib,
  endOfRibFamily,
  isEndOfRib,
  withdrawalsOf,
  type Announcement,
  type UpdateMessage,
} from './update.js';
export {
  makeOpen,
  unsupportedCapability,
  validateOpen,
  type OpenExpectations,
  type OpenMessage,
  type OpenOptions,
} from './open.js';
export {
  advertisedFamilies,
  negotiate,
  openAsn,
  type AddPathFamily,
  type AddPathMode,
  type Capability,
  type Family,
  type GracefulRestartFamily,
  type Negotiated,
} from './capabilities.js';
export {
  errorCodeName,
  errorSubcodeName,
  maxPrefixesNotification,
  notificationFor,
  notificationName,
  shutdownCommunication,
  shutdownNotification,
  type NotificationMessage,
} from './notification.js';
export type { RouteRefreshMessage } from './route-refresh.js';
