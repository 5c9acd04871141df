// ROUTE-REFRESH (RFC 2918 §3) with the Message Subtype of RFC 7313 §3:
// 0 normal request, 1 Beginning of Route Refresh, 2 End of Route Refresh.

import {
  ErrorCode,
  MessageType,
  RouteRefreshErrorSubcode,
  RouteRefreshSubtype,
  type CodecContext,
} from './constants.js';
import { notificationError, type NotificationError } from './errors.js';
import { beginMessage, endMessage } from './framing.js';
import { ByteWriter, copyBytes, u16 } from './wire.js';

export interface RouteRefreshMessage {
  readonly type: 'route-refresh';
  readonly afi: number;
  readonly safi: number;
  /** RFC 7313: 0 request, 1 BoRR, 2 EoRR. Others must be ignored by the receiver. */
  readonly subtype: number;
  /** Octets after AFI/SAFI in a subtype-0 message (ORF entries, RFC 5291), kept raw. */
  readonly orf?: Uint8Array;
}

export type RouteRefreshDecodeResult =
  | { readonly ok: true; readonly message: RouteRefreshMessage }
  | { readonly ok: false; readonly error: NotificationError };

/** Decodes a ROUTE-REFRESH; `message` is the whole message (for the error data of RFC 7313 §5). */
export function decodeRouteRefresh(
  message: Uint8Array,
  start: number,
  end: number,
): RouteRefreshDecodeResult {
  const afi = u16(message, start);
  const subtype = message[start + 2]!;
  const safi = message[start + 3]!;
  const extra = end - start - 4;
  if (extra > 0 && (subtype === RouteRefreshSubtype.BORR || subtype === RouteRefreshSubtype.EORR)) {
    // RFC 7313 §5: BoRR/EoRR must be 4 octets after the header; data is the whole message.
    return {
      ok: false,
      error: notificationError(
        ErrorCode.ROUTE_REFRESH_MESSAGE,
        RouteRefreshErrorSubcode.INVALID_MESSAGE_LENGTH,
        `ROUTE-REFRESH subtype ${subtype} of length ${end - start + 19}`,
        copyBytes(message, 0, end),
      ),
    };
  }
  const refresh: RouteRefreshMessage =
    extra > 0
      ? { type: 'route-refresh', afi, safi, subtype, orf: copyBytes(message, start + 4, end) }
      : { type: 'route-refresh', afi, safi, subtype };
  return { ok: true, message: refresh };
}

export function encodeRouteRefresh(msg: RouteRefreshMessage, ctx: CodecContext): Uint8Array {
  const w = new ByteWriter(32);
  beginMessage(w, MessageType.ROUTE_REFRESH);
  w.u16(msg.afi, 'AFI');
  w.u8(msg.subtype, 'ROUTE-REFRESH subtype');
  w.u8(msg.safi, 'SAFI');
  if (msg.orf !== undefined) w.bytes(msg.orf);
  return endMessage(w, MessageType.ROUTE_REFRESH, ctx);
}
