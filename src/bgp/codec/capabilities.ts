// Capabilities advertisement (RFC 5492): the capabilities Tortie knows, kept
// as values; every other capability is preserved as received. Also the
// negotiation of two OPENs into the codec contexts of a session.

import {
  Afi,
  AS_TRANS,
  CapabilityCode,
  GracefulRestartFlag,
  Safi,
  type AddPathFamilies,
  type CodecContext,
} from './constants.js';
import { BgpEncodeError } from './errors.js';
import type { OpenMessage } from './open.js';
import { copyBytes, u16, u32, type ByteWriter } from './wire.js';

export interface Family {
  readonly afi: number;
  readonly safi: number;
}

export interface GracefulRestartFamily extends Family {
  /** F bit: forwarding state was preserved across the restart. */
  readonly forwarding: boolean;
}

export type AddPathMode = 'receive' | 'send' | 'both';

export interface AddPathFamily extends Family {
  readonly mode: AddPathMode;
}

export type Capability =
  | { readonly kind: 'multiprotocol'; readonly afi: number; readonly safi: number } // RFC 4760
  | { readonly kind: 'route-refresh' } // RFC 2918
  | { readonly kind: 'route-refresh-cisco' } // code 128, pre-standard
  | { readonly kind: 'enhanced-route-refresh' } // RFC 7313
  | { readonly kind: 'extended-message' } // RFC 8654
  | { readonly kind: 'four-octet-as'; readonly asn: number } // RFC 6793
  | {
      readonly kind: 'graceful-restart'; // RFC 4724 §3
      /** R bit: the sender has restarted. */
      readonly restarting: boolean;
      /** N bit (RFC 8538): graceful restart also covers NOTIFICATION. */
      readonly notification: boolean;
      /** Restart Time, seconds, 0..4095. */
      readonly restartTime: number;
      readonly families: readonly GracefulRestartFamily[];
    }
  | { readonly kind: 'add-path'; readonly families: readonly AddPathFamily[] } // RFC 7911 §4
  | { readonly kind: 'unknown'; readonly code: number; readonly value: Uint8Array };

const ADD_PATH_MODES: readonly (AddPathMode | undefined)[] = [undefined, 'receive', 'send', 'both'];
const ADD_PATH_CODES: Readonly<Record<AddPathMode, number>> = { receive: 1, send: 2, both: 3 };

/**
 * Decodes capability TLVs in buf[start..end). Returns the reason when one is
 * cut off or a known one has the wrong length (the caller answers 2/0,
 * RFC 4271 §6.2: a recognised optional parameter that is malformed).
 */
export function decodeCapabilities(
  buf: Uint8Array,
  start: number,
  end: number,
  out: Capability[],
): string | undefined {
  let p = start;
  while (p < end) {
    if (end - p < 2) return 'capability header cut off';
    const code = buf[p]!;
    const length = buf[p + 1]!;
    const v = p + 2;
    if (v + length > end) return `capability ${code} of length ${length} overruns its parameter`;
    p = v + length;
    const wrong = (): string => `capability ${code} has length ${length}`;
    switch (code) {
      case CapabilityCode.MULTIPROTOCOL:
        // AFI (2), Reserved (1), SAFI (1) — RFC 4760 §8.
        if (length !== 4) return wrong();
        out.push({ kind: 'multiprotocol', afi: u16(buf, v), safi: buf[v + 3]! });
        break;
      case CapabilityCode.ROUTE_REFRESH:
        if (length !== 0) return wrong();
        out.push({ kind: 'route-refresh' });
        break;
      case CapabilityCode.ROUTE_REFRESH_CISCO:
        if (length !== 0) return wrong();
        out.push({ kind: 'route-refresh-cisco' });
        break;
      case CapabilityCode.ENHANCED_ROUTE_REFRESH:
        if (length !== 0) return wrong();
        out.push({ kind: 'enhanced-route-refresh' });
        break;
      case CapabilityCode.EXTENDED_MESSAGE:
        if (length !== 0) return wrong();
        out.push({ kind: 'extended-message' });
        break;
      case CapabilityCode.FOUR_OCTET_AS:
        if (length !== 4) return wrong();
        out.push({ kind: 'four-octet-as', asn: u32(buf, v) });
        break;
      case CapabilityCode.GRACEFUL_RESTART: {
        if (length < 2 || (length - 2) % 4 !== 0) return wrong();
        const flags = buf[v]! >>> 4;
        const families: GracefulRestartFamily[] = [];
        for (let q = v + 2; q < v + length; q += 4) {
          families.push({
            afi: u16(buf, q),
            safi: buf[q + 2]!,
            forwarding: (buf[q + 3]! & GracefulRestartFlag.FORWARDING_STATE) !== 0,
          });
        }
        out.push({
          kind: 'graceful-restart',
          restarting: (flags & GracefulRestartFlag.RESTART_STATE) !== 0,
          notification: (flags & GracefulRestartFlag.NOTIFICATION) !== 0,
          restartTime: u16(buf, v) & 0x0fff,
          families,
        });
        break;
      }
      case CapabilityCode.ADD_PATH: {
        if (length % 4 !== 0) return wrong();
        const families: AddPathFamily[] = [];
        for (let q = v; q < v + length; q += 4) {
          const mode = ADD_PATH_MODES[buf[q + 3]!];
          if (mode === undefined) return `ADD-PATH Send/Receive value ${buf[q + 3]}`;
          families.push({ afi: u16(buf, q), safi: buf[q + 2]!, mode });
        }
        out.push({ kind: 'add-path', families });
        break;
      }
      default:
        out.push({ kind: 'unknown', code, value: copyBytes(buf, v, v + length) });
    }
  }
  return undefined;
}

function tlv(w: ByteWriter, code: number, length: number): void {
  w.u8(code);
  w.u8(length, `capability ${code} length`);
}

/** Writes one capability TLV. Throws BgpEncodeError. */
export function writeCapability(w: ByteWriter, cap: Capability): void {
  switch (cap.kind) {
    case 'multiprotocol':
      tlv(w, CapabilityCode.MULTIPROTOCOL, 4);
      w.u16(cap.afi, 'AFI');
      w.u8(0);
      w.u8(cap.safi, 'SAFI');
      return;
    case 'route-refresh':
      return tlv(w, CapabilityCode.ROUTE_REFRESH, 0);
    case 'route-refresh-cisco':
      return tlv(w, CapabilityCode.ROUTE_REFRESH_CISCO, 0);
    case 'enhanced-route-refresh':
      return tlv(w, CapabilityCode.ENHANCED_ROUTE_REFRESH, 0);
    case 'extended-message':
      return tlv(w, CapabilityCode.EXTENDED_MESSAGE, 0);
    case 'four-octet-as':
      tlv(w, CapabilityCode.FOUR_OCTET_AS, 4);
      w.u32(cap.asn, 'ASN');
      return;
    case 'graceful-restart': {
      if ((cap.restartTime & 0xfff) !== cap.restartTime) {
        throw new BgpEncodeError('out-of-range', `restart time ${cap.restartTime} is not 0..4095`);
      }
      tlv(w, CapabilityCode.GRACEFUL_RESTART, 2 + 4 * cap.families.length);
      const flags =
        (cap.restarting ? GracefulRestartFlag.RESTART_STATE : 0) |
        (cap.notification ? GracefulRestartFlag.NOTIFICATION : 0);
      w.u16((flags << 12) | cap.restartTime);
      for (const f of cap.families) {
        w.u16(f.afi, 'AFI');
        w.u8(f.safi, 'SAFI');
        w.u8(f.forwarding ? GracefulRestartFlag.FORWARDING_STATE : 0);
      }
      return;
    }
    case 'add-path':
      tlv(w, CapabilityCode.ADD_PATH, 4 * cap.families.length);
      for (const f of cap.families) {
        const mode = ADD_PATH_CODES[f.mode];
        if (mode === undefined)
          throw new BgpEncodeError('invalid-message', `ADD-PATH mode ${String(f.mode)}`);
        w.u16(f.afi, 'AFI');
        w.u8(f.safi, 'SAFI');
        w.u8(mode);
      }
      return;
    case 'unknown':
      tlv(w, cap.code, cap.value.length);
      w.bytes(cap.value);
      return;
    default:
      throw new BgpEncodeError('invalid-message', `capability ${JSON.stringify(cap)}`);
  }
}

/** Octets a capability takes on the wire. */
export function capabilityLength(cap: Capability): number {
  switch (cap.kind) {
    case 'multiprotocol':
    case 'four-octet-as':
      return 6;
    case 'graceful-restart':
      return 4 + 4 * cap.families.length;
    case 'add-path':
      return 2 + 4 * cap.families.length;
    case 'unknown':
      return 2 + cap.value.length;
    default:
      return 2;
  }
}

// ---------------------------------------------------------------------------
// Negotiation

/** The families a speaker advertised; none advertised means IPv4 unicast only (RFC 4760 §8). */
export function advertisedFamilies(open: OpenMessage): Family[] {
  const families = open.capabilities.flatMap((c) =>
    c.kind === 'multiprotocol' ? [{ afi: c.afi, safi: c.safi }] : [],
  );
  return families.length > 0 ? families : [{ afi: Afi.IPV4, safi: Safi.UNICAST }];
}

/** The AS number an OPEN stands for: the 4-octet capability's, else the My AS field. */
export function openAsn(open: OpenMessage): number {
  for (const c of open.capabilities) if (c.kind === 'four-octet-as') return c.asn;
  return open.myAs;
}

export interface Negotiated {
  /** RFC 4271 §4.2: the smaller of the two hold times (0: no keepalives). */
  readonly holdTime: number;
  readonly peerAsn: number;
  readonly fourOctetAs: boolean;
  /** Families both sides advertised. */
  readonly families: readonly Family[];
  readonly routeRefresh: boolean;
  readonly enhancedRouteRefresh: boolean;
  readonly extendedMessage: boolean;
  /** The peer's graceful-restart capability, if it sent one. */
  readonly peerGracefulRestart?: Extract<Capability, { kind: 'graceful-restart' }>;
  /** Decode what the peer sends with this. */
  readonly receiveContext: CodecContext;
  /** Encode what is sent to the peer with this. */
  readonly sendContext: CodecContext;
}

function has(open: OpenMessage, kind: Capability['kind']): boolean {
  return open.capabilities.some((c) => c.kind === kind);
}

function addPathModes(open: OpenMessage): AddPathFamily[] {
  return open.capabilities.flatMap((c) => (c.kind === 'add-path' ? c.families : []));
}

function addPathFor(
  families: readonly Family[],
  receiver: readonly AddPathFamily[],
  sender: readonly AddPathFamily[],
): AddPathFamilies {
  // RFC 7911 §4: path identifiers flow from a side that can send to one that can receive.
  const on = (afi: number, safi: number): boolean =>
    families.some((f) => f.afi === afi && f.safi === safi) &&
    receiver.some((f) => f.afi === afi && f.safi === safi && f.mode !== 'send') &&
    sender.some((f) => f.afi === afi && f.safi === safi && f.mode !== 'receive');
  const result: { ipv4Unicast?: boolean; ipv6Unicast?: boolean } = {};
  if (on(Afi.IPV4, Safi.UNICAST)) result.ipv4Unicast = true;
  if (on(Afi.IPV6, Safi.UNICAST)) result.ipv6Unicast = true;
  return result;
}

/** What a session runs with, from the OPEN it sent and the OPEN it received. */
export function negotiate(local: OpenMessage, remote: OpenMessage): Negotiated {
  const localFamilies = advertisedFamilies(local);
  const families = advertisedFamilies(remote).filter((f) =>
    localFamilies.some((l) => l.afi === f.afi && l.safi === f.safi),
  );
  const fourOctetAs = has(local, 'four-octet-as') && has(remote, 'four-octet-as');
  const extendedMessage = has(local, 'extended-message') && has(remote, 'extended-message');
  const receiveAddPath = addPathFor(families, addPathModes(local), addPathModes(remote));
  const sendAddPath = addPathFor(families, addPathModes(remote), addPathModes(local));
  const context = (addPath: AddPathFamilies): CodecContext => ({
    fourOctetAs,
    ...(Object.keys(addPath).length > 0 ? { addPath } : {}),
    ...(extendedMessage ? { extendedMessage } : {}),
  });
  const gr = remote.capabilities.find((c) => c.kind === 'graceful-restart');
  const refresh = (o: OpenMessage): boolean =>
    has(o, 'route-refresh') || has(o, 'route-refresh-cisco');
  return {
    holdTime: Math.min(local.holdTime, remote.holdTime),
    peerAsn: fourOctetAs ? openAsn(remote) : remote.myAs,
    fourOctetAs,
    families,
    routeRefresh: refresh(local) && refresh(remote),
    enhancedRouteRefresh:
      has(local, 'enhanced-route-refresh') && has(remote, 'enhanced-route-refresh'),
    extendedMessage,
    ...(gr !== undefined && gr.kind === 'graceful-restart' ? { peerGracefulRestart: gr } : {}),
    receiveContext: context(receiveAddPath),
    sendContext: context(sendAddPath),
  };
}

/** The My AS field for an ASN (RFC 6793 §4.2.1: AS_TRANS if it does not fit 2 octets). */
export function myAsField(asn: number): number {
  return asn > 0xffff ? AS_TRANS : asn;
}
