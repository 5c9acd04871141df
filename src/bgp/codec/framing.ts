// The 19-octet message header (RFC 4271 §4.1) and MessageReader, which turns
// a TCP byte stream arriving in arbitrary chunks into decoded messages, so
// that the session layer never handles bytes.

import {
  ErrorCode,
  HEADER_LENGTH,
  HeaderSubcode,
  MARKER_LENGTH,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  INITIAL_CONTEXT,
  type CodecContext,
} from './constants.js';
import {
  BgpEncodeError,
  notificationError,
  type DecodeError,
  type NotificationError,
} from './errors.js';
// index.ts imports this module too; the cycle is safe because decodeMessage is
// only called at run time, never while the modules are being evaluated.
import { decodeMessage, type BgpMessage } from './index.js';
import { ByteWriter, copyBytes, u16 } from './wire.js';

/** Largest length a message of `type` may have under `ctx` (RFC 8654 §4: OPEN and KEEPALIVE stay at 4096). */
export function maxLengthFor(type: number, ctx: CodecContext): number {
  if (ctx.extendedMessage === true && type !== MessageType.OPEN && type !== MessageType.KEEPALIVE) {
    return MAX_EXTENDED_MESSAGE_LENGTH;
  }
  return MAX_MESSAGE_LENGTH;
}

/** Starts a message: marker, a length to patch, the type. */
export function beginMessage(w: ByteWriter, type: number): void {
  w.ensure(HEADER_LENGTH);
  w.buf.fill(0xff, w.pos, w.pos + MARKER_LENGTH);
  w.pos += MARKER_LENGTH;
  w.reserve16();
  w.u8(type);
}

/** Patches the length of a message begun at offset 0 and returns its bytes. Throws BgpEncodeError. */
export function endMessage(w: ByteWriter, type: number, ctx: CodecContext): Uint8Array {
  const max = maxLengthFor(type, ctx);
  if (w.pos > max) {
    throw new BgpEncodeError(
      'message-too-long',
      `message of type ${type} is ${w.pos} octets, over ${max}`,
    );
  }
  w.patch16(MARKER_LENGTH, w.pos);
  return w.finish();
}

function lengthField(buf: Uint8Array, at: number): Uint8Array {
  return copyBytes(buf, at + MARKER_LENGTH, at + MARKER_LENGTH + 2);
}

/**
 * Checks the header at buf[at..]: marker all ones (else 1/1), length within
 * 19..max (else 1/2 with the length as data). `max` is 65535 when extended
 * messages are on; the per-type limits are checked by decodeMessage.
 */
export function checkHeader(
  buf: Uint8Array,
  at: number,
  ctx: CodecContext,
): NotificationError | number {
  for (let i = 0; i < MARKER_LENGTH; i++) {
    if (buf[at + i] !== 0xff) {
      return notificationError(
        ErrorCode.MESSAGE_HEADER,
        HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED,
        'marker is not all ones',
      );
    }
  }
  const length = u16(buf, at + MARKER_LENGTH);
  const max = ctx.extendedMessage === true ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
  if (length < HEADER_LENGTH || length > max) {
    return notificationError(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      `message length ${length} is outside ${HEADER_LENGTH}..${max}`,
      lengthField(buf, at),
    );
  }
  return length;
}

export type ReadResult =
  | { readonly ok: true; readonly message: BgpMessage }
  | { readonly ok: false; readonly error: DecodeError };

/**
 * Reassembles messages from a byte stream.
 *
 *   const reader = new MessageReader();
 *   socket.on('data', (chunk) => {
 *     reader.push(chunk);
 *     for (const result of reader.messages()) { ... may set reader.context ... }
 *   });
 *
 * Messages are decoded one at a time as they are pulled, so a context change
 * made while handling one (e.g. after the OPEN exchange) applies to the next.
 * A bad marker or length cannot be resynchronised: the reader reports it once
 * and then yields nothing more (`failed` is set).
 */
export class MessageReader {
  /** The context messages are decoded with; replace it when the session negotiates. */
  context: CodecContext;
  /** Set once a framing error was reported; the stream is unusable after it. */
  failed: NotificationError | undefined;
  private buf: Uint8Array;
  private start = 0;
  private end = 0;

  constructor(context: CodecContext = INITIAL_CONTEXT, initialCapacity = 16384) {
    this.context = context;
    this.buf = new Uint8Array(initialCapacity);
  }

  /** Octets received but not yet returned as messages. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Appends a chunk of the stream. The chunk is copied; the caller may reuse it. */
  push(chunk: Uint8Array): void {
    if (this.failed !== undefined || chunk.length === 0) return;
    if (this.end + chunk.length > this.buf.length) {
      const pending = this.end - this.start;
      if (pending + chunk.length <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        let size = this.buf.length * 2;
        while (size < pending + chunk.length) size *= 2;
        const grown = new Uint8Array(size);
        grown.set(this.buf.subarray(this.start, this.end));
        this.buf = grown;
      }
      this.start = 0;
      this.end = pending;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /**
   * The next complete message's bytes, a framing error, or undefined if more
   * input is needed. The bytes are a view valid until the next push().
   */
  nextFrame(): Uint8Array | NotificationError | undefined {
    if (this.failed !== undefined) return undefined;
    const available = this.end - this.start;
    if (available < HEADER_LENGTH) return undefined;
    const checked = checkHeader(this.buf, this.start, this.context);
    if (typeof checked !== 'number') {
      this.failed = checked;
      this.start = this.end = 0;
      return checked;
    }
    if (available < checked) return undefined;
    const frame = this.buf.subarray(this.start, this.start + checked);
    this.start += checked;
    if (this.start === this.end) this.start = this.end = 0;
    return frame;
  }

  /** The next decoded message or error, or undefined if more input is needed. */
  next(): ReadResult | undefined {
    const frame = this.nextFrame();
    if (frame === undefined) return undefined;
    if (!(frame instanceof Uint8Array)) return { ok: false, error: frame };
    return decodeMessage(frame, this.context);
  }

  /** Pulls every complete message, decoding each only when the caller asks for it. */
  *messages(): Generator<ReadResult, void, undefined> {
    for (let r = this.next(); r !== undefined; r = this.next()) yield r;
  }
}
