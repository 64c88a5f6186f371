/**
 * The TCP wire contract between nodes (docs/cluster-wire.md). Every frame on a connection is
 *
 *     u32 length (big-endian, counts kind + body) | u8 kind | body
 *
 * | kind | body |
 * | --- | --- |
 * | HELLO, CHALLENGE, PROOF, WELCOME, REJECT | JSON object, at most {@link MAX_HANDSHAKE_BODY} bytes (handshake only) |
 * | BATCH | `u16 toThread, u16 fromThread`, a format byte, then the `[tag, to, a, b] × N` array: MessagePack when every value packs exactly, else `node:v8` (transport/codec.ts) |
 * | TICK | empty (keeps an idle link heard) |
 * | GOODBYE | JSON object `{ reason }` |
 *
 * Pure encode/decode helpers, no I/O. The decoder is total over hostile input: it never throws,
 * it returns a {@link WireError} (the connection turns it into its close reason), and a
 * declared length above `maxFrameBytes` is refused from the header alone, before any buffer of
 * that size exists. What a BATCH's frames contain (tags, ids, messages) is checked above this
 * layer, as for batches between threads.
 */
import { serialize } from 'node:v8';
import { decodeBatchBytes, encodeBatchView, Format } from '../transport/codec.js';
import { InvalidArgumentError } from '../errors.js';

export const Kind = {
  HELLO: 1,
  CHALLENGE: 2,
  PROOF: 3,
  WELCOME: 4,
  REJECT: 5,
  BATCH: 6,
  TICK: 7,
  GOODBYE: 8,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** The kinds whose body is a JSON object. */
export type JsonKind =
  | typeof Kind.HELLO
  | typeof Kind.CHALLENGE
  | typeof Kind.PROOF
  | typeof Kind.WELCOME
  | typeof Kind.REJECT
  | typeof Kind.GOODBYE;

/** Default bound of a frame's declared length (kind + body): 64 MiB. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Bound of a JSON body (handshake kinds and GOODBYE). */
export const MAX_HANDSHAKE_BODY = 4096;
/** Bytes before the body: the u32 length and the u8 kind. */
export const HEADER_BYTES = 5;
/** Bytes of a BATCH body before its v8 payload: `u16 toThread, u16 fromThread`. */
export const BATCH_HEADER_BYTES = 4;
/** Largest thread number a BATCH can name (u16). */
export const MAX_THREAD = 0xffff;

/** One decoded frame. */
export type Frame =
  | { readonly kind: JsonKind; readonly body: Record<string, unknown> }
  | { readonly kind: typeof Kind.BATCH; readonly toThread: number; readonly fromThread: number; readonly batch: unknown[] }
  | { readonly kind: typeof Kind.TICK };

/** Why a byte stream was refused; `error` doubles as the connection's close reason. */
export interface WireError {
  readonly error: 'frame_too_large' | 'bad_frame';
  readonly detail: string;
}

/** What one {@link FrameDecoder.push} yields: the complete frames, then the error if one stopped decoding. */
export interface DecodeResult {
  readonly frames: Frame[];
  readonly error: WireError | undefined;
}

const EMPTY = Buffer.alloc(0);

export function isJsonKind(kind: number): kind is JsonKind {
  return (kind >= Kind.HELLO && kind <= Kind.REJECT) || kind === Kind.GOODBYE;
}

function isKind(kind: number): kind is Kind {
  return Number.isInteger(kind) && kind >= Kind.HELLO && kind <= Kind.GOODBYE;
}

/**
 * One frame: a JSON kind takes a plain object (serialised here, at most
 * {@link MAX_HANDSHAKE_BODY} bytes), any kind takes raw body bytes. Throws InvalidArgumentError
 * for an unknown kind, a body too large for its kind, or one above `maxFrameBytes`.
 */
export function encodeFrame(kind: Kind, body?: Uint8Array | Record<string, unknown>, maxFrameBytes = MAX_FRAME_BYTES): Buffer {
  if (!isKind(kind)) throw new InvalidArgumentError('encodeFrame kind', `expected a wire kind (1..8), got ${String(kind)}`);
  let bytes: Uint8Array;
  if (body === undefined) bytes = EMPTY;
  else if (body instanceof Uint8Array) bytes = body;
  else {
    if (!isJsonKind(kind)) throw new InvalidArgumentError('encodeFrame body', `kind ${kind} takes bytes, not an object`);
    bytes = Buffer.from(JSON.stringify(body), 'utf8');
  }
  if (isJsonKind(kind) && bytes.length > MAX_HANDSHAKE_BODY) {
    throw new InvalidArgumentError('encodeFrame body', `a kind ${kind} body is at most ${MAX_HANDSHAKE_BODY} bytes, got ${bytes.length}`);
  }
  if (kind === Kind.TICK && bytes.length > 0) throw new InvalidArgumentError('encodeFrame body', 'a TICK has no body');
  if (1 + bytes.length > maxFrameBytes) {
    throw new InvalidArgumentError('encodeFrame body', `a frame is at most ${maxFrameBytes} bytes, got ${1 + bytes.length}`);
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + bytes.length);
  out.writeUInt32BE(1 + bytes.length, 0);
  out[4] = kind;
  out.set(bytes, HEADER_BYTES);
  return out;
}

/** A BATCH frame's header with its format byte: the bytes a packed batch leaves free before it. */
export const PACKED_HEADROOM = HEADER_BYTES + BATCH_HEADER_BYTES + 1;

/**
 * One BATCH frame. Throws for thread numbers outside u16, a batch whose length is not a
 * multiple of 4, a value `node:v8` cannot serialise (a function, a symbol: the Channel then
 * retries frame by frame), or a frame above `maxFrameBytes`.
 */
export function encodeBatch(toThread: number, fromThread: number, batch: unknown[], maxFrameBytes = MAX_FRAME_BYTES): Buffer {
  checkThread('encodeBatch toThread', toThread);
  checkThread('encodeBatch fromThread', fromThread);
  if (!Array.isArray(batch) || batch.length % 4 !== 0) {
    throw new InvalidArgumentError('encodeBatch batch', 'expected an array of [tag, to, a, b] frames (length a multiple of 4)');
  }
  // The batch codec's two forms, told apart by one format byte: MessagePack when every value
  // packs exactly (src/transport/codec.ts), else node:v8.
  let format: number = Format.MSGPACK;
  let payload: Uint8Array | undefined = encodeBatchView(batch);
  if (payload === undefined) {
    format = Format.V8;
    try {
      payload = serialize(batch);
    } catch (e) {
      // The same error a MessagePort throws for the same value, so a Channel reports both alike.
      throw new DOMException(e instanceof Error ? e.message : String(e), 'DataCloneError');
    }
  }
  checkFrameBytes(PACKED_HEADROOM + payload.length, maxFrameBytes);
  const out = Buffer.allocUnsafe(PACKED_HEADROOM + payload.length);
  writeBatchHeader(out, toThread, fromThread, format);
  out.set(payload, PACKED_HEADROOM);
  return out;
}

/**
 * One BATCH frame around a batch packed frame by frame (transport/codec.ts, BatchPacker):
 * `packed` holds {@link PACKED_HEADROOM} free bytes, then the batch. The header is written
 * there and the frame copied out (the packer reuses its buffer). Throws as
 * {@link encodeBatch} does for a bad thread number or a frame above `maxFrameBytes`.
 */
export function packedBatchFrame(toThread: number, fromThread: number, packed: Buffer, maxFrameBytes = MAX_FRAME_BYTES): Buffer {
  checkThread('encodeBatch toThread', toThread);
  checkThread('encodeBatch fromThread', fromThread);
  if (packed.length <= PACKED_HEADROOM) throw new InvalidArgumentError('encodeBatch batch', 'an empty packed batch');
  checkFrameBytes(packed.length, maxFrameBytes);
  writeBatchHeader(packed, toThread, fromThread, Format.MSGPACK);
  return Buffer.from(packed);
}

/** Refuses a frame of `total` bytes (header included) whose declared length passes the bound. */
function checkFrameBytes(total: number, maxFrameBytes: number): void {
  const length = total - 4; // the kind and the body: all but the u32 length
  if (length > maxFrameBytes) {
    throw new InvalidArgumentError('encodeBatch batch', `a frame is at most ${maxFrameBytes} bytes, this batch needs ${length}`);
  }
}

/** Writes a BATCH frame's header (length, kind, threads, format byte) into its first PACKED_HEADROOM bytes. */
function writeBatchHeader(out: Buffer, toThread: number, fromThread: number, format: number): void {
  out.writeUInt32BE(out.length - 4, 0);
  out[4] = Kind.BATCH;
  out.writeUInt16BE(toThread, 5);
  out.writeUInt16BE(fromThread, 7);
  out[HEADER_BYTES + BATCH_HEADER_BYTES] = format;
}

function checkThread(argument: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_THREAD)
    throw new InvalidArgumentError(argument, `expected an integer in 0..${MAX_THREAD}, got ${String(n)}`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Incremental decoder of one connection's byte stream. `push` each received chunk; it yields
 * the frames completed by it (a frame may span many chunks, a chunk may hold many frames).
 * After an error the decoder is spent: later pushes yield the same error and no frames.
 *
 * Memory: chunks are kept as received until a frame is complete; only then is one buffer of
 * that frame's body assembled (when it spans chunks), and a declared length above
 * `maxFrameBytes` is refused from the 5-byte header, so no buffer larger than
 * `maxFrameBytes` is ever allocated.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** Offset of the first unread byte in chunks[0]. */
  private head = 0;
  /** Unread bytes over all chunks. */
  private buffered = 0;
  private failed: WireError | undefined;

  /** The largest frame accepted now: `maxFrameBytes`, or less while {@link limit} says so. */
  private frameLimit: number;

  constructor(readonly maxFrameBytes = MAX_FRAME_BYTES) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > 0xffffffff) {
      throw new InvalidArgumentError('FrameDecoder maxFrameBytes', `expected an integer in 1..2^32-1, got ${String(maxFrameBytes)}`);
    }
    this.frameLimit = maxFrameBytes;
  }

  /**
   * Accepts frames of at most `bytes` (declared length) from the next header on, never more
   * than `maxFrameBytes`; `undefined` lifts the limit back to `maxFrameBytes`. Before a peer is
   * authenticated only handshake-sized frames are taken, so a stranger cannot make this side
   * buffer a 64 MiB body.
   */
  limit(bytes: number | undefined): void {
    if (bytes !== undefined && (!Number.isInteger(bytes) || bytes < 1)) {
      throw new InvalidArgumentError('FrameDecoder limit', `expected an integer ≥ 1, got ${String(bytes)}`);
    }
    this.frameLimit = bytes === undefined ? this.maxFrameBytes : Math.min(bytes, this.maxFrameBytes);
  }

  /** Unread bytes held (a frame in progress). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The error that stopped decoding, if any. */
  get error(): WireError | undefined {
    return this.failed;
  }

  /** Appends `chunk` and decodes every frame now complete (or stops at the first error). */
  push(chunk: Uint8Array): DecodeResult {
    const frames: Frame[] = [];
    this.append(chunk);
    for (;;) {
      const f = this.next();
      if (f === undefined) break;
      if ('error' in f) return { frames, error: f };
      frames.push(f);
    }
    return { frames, error: this.failed };
  }

  /** Adds received bytes; {@link next} decodes them. Ignored once decoding has failed. */
  append(chunk: Uint8Array): void {
    if (this.failed !== undefined || chunk.length === 0) return;
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.buffered += chunk.length;
  }

  /**
   * The next complete frame, `undefined` when none is complete yet, or the error that stops
   * decoding for good (returned again on every later call). One frame at a time, so a caller
   * can change the {@link limit} between two frames of one chunk (the handshake's end).
   */
  next(): Frame | WireError | undefined {
    if (this.failed !== undefined) return this.failed;
    if (this.buffered < HEADER_BYTES) return undefined;
    const header = this.peekHeader();
    const length = header.readUInt32BE(0);
    const kind = header[4]!;
    const problem = headerProblem(length, kind, this.frameLimit);
    if (problem !== undefined) return this.fail(problem);
    if (this.buffered < 4 + length) return undefined;
    this.skip(HEADER_BYTES);
    const body = this.take(length - 1);
    const frame = decodeBody(kind as Kind, body);
    if ('error' in frame) return this.fail(frame);
    return frame;
  }

  private fail(e: WireError): WireError {
    this.failed = e;
    this.chunks = [];
    this.head = 0;
    this.buffered = 0;
    return e;
  }

  /** The first 5 unread bytes (copied only when they span chunks). */
  private peekHeader(): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.head >= HEADER_BYTES) return first.subarray(this.head, this.head + HEADER_BYTES);
    const out = Buffer.allocUnsafe(HEADER_BYTES);
    let at = 0;
    let off = this.head;
    for (const c of this.chunks) {
      const n = Math.min(c.length - off, HEADER_BYTES - at);
      c.copy(out, at, off, off + n);
      at += n;
      off = 0;
      if (at === HEADER_BYTES) break;
    }
    return out;
  }

  private skip(n: number): void {
    this.take(n);
  }

  /** Consumes `n` unread bytes (n ≤ buffered): a view when they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return EMPTY;
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length - this.head, n - at);
      c.copy(out, at, this.head, this.head + k);
      at += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }
}

/** What is wrong with a frame header, judged before its body is read. */
function headerProblem(length: number, kind: number, maxFrameBytes: number): WireError | undefined {
  if (length > maxFrameBytes) return { error: 'frame_too_large', detail: `declared length ${length} exceeds ${maxFrameBytes}` };
  if (length === 0) return { error: 'bad_frame', detail: 'declared length 0 (a frame has at least its kind byte)' };
  if (!isKind(kind)) return { error: 'bad_frame', detail: `unknown kind ${kind}` };
  const body = length - 1;
  if (isJsonKind(kind) && body > MAX_HANDSHAKE_BODY) {
    return { error: 'frame_too_large', detail: `kind ${kind} body of ${body} bytes exceeds ${MAX_HANDSHAKE_BODY}` };
  }
  if (kind === Kind.TICK && body !== 0) return { error: 'bad_frame', detail: `TICK with a ${body}-byte body` };
  if (kind === Kind.BATCH && body < BATCH_HEADER_BYTES + 1)
    return { error: 'bad_frame', detail: `BATCH body of ${body} bytes is too short` };
  return undefined;
}

function decodeBody(kind: Kind, body: Buffer): Frame | WireError {
  if (kind === Kind.TICK) return { kind };
  if (kind === Kind.BATCH) {
    const toThread = body.readUInt16BE(0);
    const fromThread = body.readUInt16BE(2);
    let batch: unknown;
    try {
      batch = decodeBatchBytes(body.subarray(BATCH_HEADER_BYTES));
    } catch (e) {
      return { error: 'bad_frame', detail: `BATCH payload does not decode: ${describe(e)}` };
    }
    if (!Array.isArray(batch)) return { error: 'bad_frame', detail: 'BATCH payload is not an array' };
    if (batch.length % 4 !== 0) return { error: 'bad_frame', detail: `BATCH payload length ${batch.length} is not a multiple of 4` };
    return { kind, toThread, fromThread, batch };
  }
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch (e) {
    return { error: 'bad_frame', detail: `kind ${kind} body is not UTF-8 JSON: ${describe(e)}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: 'bad_frame', detail: `kind ${kind} body is not a JSON object` };
  }
  return { kind: kind as JsonKind, body: value as Record<string, unknown> };
}

function describe(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 200 ? `${m.slice(0, 200)}…` : m;
}
