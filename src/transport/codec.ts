/**
 * The batch codec: one byte encoding of a batch (`[tag, to, a, b] × N`, see frames.ts) for
 * every boundary, with exactly the value semantics of a thread boundary (structured clone).
 *
 * The bytes are MessagePack with msgpackr's extensions and records (a plain object's keys
 * are written once per shape and batch), read back by msgpackr's decoder. The encoder is our
 * own: one walk over the batch that checks each value and writes it, stopping at the first
 * value that would not come back exactly as structured clone copies it. {@link encodeBatch}
 * then returns undefined and the caller falls back to the exact path of its boundary:
 * structured clone of the plain array on a MessagePort, `node:v8` on a socket
 * ({@link encodeBatchBytes} does that behind a one-byte format tag). (msgpackr's own encoder
 * plus a separate checking walk cost ~1.5× this one walk; msgpackr's `structuredClone`
 * option tracks every object in a Map, which costs more again.)
 *
 * A node link packs frame by frame as they are sent, with a {@link BatchPacker}: the same walk
 * and bytes, one frame at a time, so that packing a message is also its only check.
 *
 * Packed (exact, checked against structuredClone by test/transport/codec.test.ts):
 * - undefined, null, booleans, numbers except -0 (msgpack integers have no -0), strings
 *   without lone surrogates (UTF-8 has no room for them), BigInts within 64 bits;
 * - plain objects (prototype Object.prototype or null: both arrive as plain objects, as under
 *   structured clone): their own enumerable string keys, each getter read once, except a key
 *   `__proto__` (msgpackr decodes it as `__proto_`);
 * - arrays without holes and without named properties (structured clone keeps both);
 * - Map, Set, Date (invalid ones too), RegExp (source and flags; `lastIndex` restarts at 0,
 *   as under structured clone);
 * - ArrayBuffer, DataView and the typed arrays, each over a whole, fixed-length, non-shared,
 *   non-empty ArrayBuffer (a view at an offset would lose its offset and the rest of its
 *   buffer).
 *
 * Everything else falls back: -0, holes, wider BigInts, Errors (structured clone keeps
 * `stack` and more), boxed primitives, class instances and other prototypes (structured
 * clone turns them into plain objects or throws), Buffers (structured clone makes them
 * Uint8Arrays), shared or resizable buffers, Proxies, functions and symbols (structured clone
 * throws: the fallback throws the same DataCloneError), and a message whose graph reaches one
 * object twice (structured clone keeps shared references and cycles; these bytes hold values,
 * not references). Identity is kept within each message, not across the messages of a batch
 * (see {@link encodeInto}). The walk is bounded (depth, objects, array length, string and
 * byte sizes): a batch past a bound is not packed; structured clone handles bulk data at least
 * as well. If anything enumerable was added to Object.prototype, no batch is packed.
 */
import { types } from 'node:util';
import { DefaultDeserializer, serialize } from 'node:v8';
import { Unpackr } from 'msgpackr';

const { isProxy } = types;

/** Deepest nesting packed (the batch array is depth 0). */
export const MAX_DEPTH = 32;
/** Most objects (arrays, plain objects, Maps, …) in one packed batch. */
export const MAX_OBJECTS = 4096;
/** Longest array packed (other than the batch itself). */
export const MAX_ARRAY = 4096;
/** Most UTF-16 units of string data plus bytes of binary data in one packed batch. */
export const MAX_DATA = 256 * 1024;

/** The format tag of {@link encodeBatchBytes}: the first byte. */
export const Format = { MSGPACK: 0, V8: 1 } as const;

/**
 * The decoder: msgpackr's, one per thread. Every batch is self-contained (no `sequential`
 * mode): the record shapes it uses are defined inside it, so batches decode in any order and
 * a batch from a hostile peer cannot change how later ones decode. msgpackr's reference
 * extensions (`structuredClone`) are refused: the encoder never writes them.
 */
const unpackr = new Unpackr({ moreTypes: true, structuredClone: false, mapsAsObjects: false, int64AsType: 'bigint' });

/** Thrown by {@link decodeBatch} for bytes that are not a packed batch. */
export class MalformedBatchError extends Error {
  override readonly name = 'MalformedBatchError';
}

/** msgpackr's typed-array codes (its `typedArrays` list), by prototype; 16 ArrayBuffer, 17 DataView. */
const TYPED_CODES = new Map<unknown, number>(
  [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  ].map((c, i) => [c.prototype, i]),
);
TYPED_CODES.set(DataView.prototype, 17);

const { getPrototypeOf, keys: ownKeys } = Object;
const ObjectProto = Object.prototype;
const ArrayProto = Array.prototype;
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

// ---------------------------------------------------------------------------------------------
// The encoder: one walk that checks each value and writes it (msgpack, with msgpackr's
// extensions and records, so msgpackr's fast decoder reads it back).

/**
 * The buffer being written, its view and position: the encoder's working state. A whole-batch
 * encode ({@link encodeInto}) writes the thread's shared buffer; a {@link BatchPacker} swaps
 * its own in for each frame it packs.
 */
let buf: Buffer = Buffer.allocUnsafeSlow(16 * 1024);
let view: DataView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
let pos = 0;
/** The shared buffer of whole-batch encodes (reused; grown on demand, bounded by MAX_DATA). */
let sharedBuf = buf;
let sharedView = view;

function room(n: number): void {
  if (pos + n <= buf.length) return;
  const next = Buffer.allocUnsafeSlow(Math.max(buf.length * 2, pos + n + 1024));
  buf.copy(next, 0, 0, pos);
  buf = next;
  view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Record shapes (the key lists of plain objects), as a trie over the keys in for-in order.
 * A node's record id is valid for the batch numbered `gen` only: each batch defines the
 * shapes it uses (ids 0x40–0x7f).
 */
interface Shape {
  readonly key: string;
  readonly parent: Shape | undefined;
  next: Map<string, Shape> | undefined;
  /** The child last looked up, and its key: most objects of one shape come in a row. */
  lastKey: string | undefined;
  last: Shape | undefined;
  id: number;
  gen: number;
  /** The record (by {@link seq}) whose bytes start with this shape's definition. */
  defSeq: number;
}
const newShape = (key: string, parent: Shape | undefined): Shape => ({
  key,
  parent,
  next: undefined,
  lastKey: undefined,
  last: undefined,
  id: 0,
  gen: -1,
  defSeq: 0,
});
let shapes = newShape('', undefined);
let shapeCount = 0;
/** Bound of the trie: past it the trie starts afresh (only a stream of ever-new key sets gets there). */
const MAX_SHAPES = 4096;
/** The batch being written (a shape's id is valid in the batch whose number it records). */
let gen = 0;
/** Batches numbered so far, on this thread. */
let gens = 0;
/**
 * Counts the records as they start, which is their order in the bytes: a definition placed
 * at record `n` precedes record `m` in the bytes when n < m. (A record's definition is only
 * known once its keys are walked, after its values went out, and is then inserted at its
 * start; a nested record of the same shape finishes first, so its definition lies after the
 * start of the enclosing one, which must then define the shape itself.)
 */
let seq = 0;
/** The next record id of this batch (0x40–0x7f: at most 64 shapes a batch). */
let nextId = 0x40;

/**
 * Objects reached inside the message being encoded, other than its root: a message whose
 * graph reaches one object twice (a shared reference, a cycle) keeps that under structured
 * clone and would not here (the encoder writes values, not references), so such a batch is
 * not packed. Filled only once a message turns out to nest objects (flat messages never
 * touch it), cleared after each such message.
 */
const seen = new Set<object>();
/** The root object of the message being encoded, until it is put into {@link seen}. */
let root: object | undefined;
let objectsLeft = 0;
let dataLeft = 0;
/** Bytes of binary data (ArrayBuffers and views) written since the counter was last zeroed. */
let binaryBytes = 0;

/**
 * Encodes `batch` into the reused buffer; false (the buffer then holds garbage) when some
 * value would not round-trip exactly as structured clone copies it (see the module comment).
 *
 * Identity is kept within each message (each word of the batch), not across them: one
 * object cast twice in a batch arrives as two equal copies, where structured clone of the
 * whole array would deliver one object twice. That sharing was never a contract: the first
 * frame of a turn leaves on its own (transport.ts, Channel), so two casts of one object
 * arrived as copies or shared depending on where the batch boundary fell.
 */
function encodeInto(batch: unknown[], start: number): boolean {
  // A getter may post (a cast inside a getter): that inner batch is not packed, rather than
  // overwriting this one's buffer and state.
  if (encoding) return false;
  park();
  encoding = true;
  buf = sharedBuf;
  view = sharedView;
  try {
    return encodeBatchBody(batch, start);
  } finally {
    // Also when a getter threw (the error goes to the caller, as from structured clone).
    encoding = false;
    root = undefined;
    if (seen.size > 0) seen.clear();
    sharedBuf = buf;
    sharedView = view;
  }
}

let encoding = false;

function encodeBatchBody(batch: unknown[], start: number): boolean {
  if (getPrototypeOf(batch) !== ArrayProto || prototypePolluted()) return false;
  objectsLeft = MAX_OBJECTS;
  dataLeft = MAX_DATA;
  gen = ++gens;
  nextId = 0x40;
  pos = start;
  const n = batch.length;
  room(5);
  arrayHeader(n);
  for (let i = 0; i < n; i++) {
    const v = batch[i];
    if (v === undefined && !(i in batch)) return false;
    if (!word(v)) return false;
  }
  return true;
}

/** One word of a batch (a frame's tag, target, or one of its two values). */
function word(v: unknown): boolean {
  if (typeof v === 'number') {
    // Frame tags, small ids and zeros: one byte (+0 only: 1 / -0 < 0).
    if (v >>> 0 === v && v < 0x40 && (v !== 0 || 1 / v > 0)) {
      room(1);
      buf[pos++] = v;
      return true;
    }
    return number(v);
  }
  if (typeof v === 'object' && v !== null) {
    root = v;
    const ok = object(v, 1);
    root = undefined;
    if (seen.size > 0) seen.clear();
    return ok;
  }
  return value(v, 1);
}

/** Something enumerable on Object.prototype would show up in for-in over every object. */
function prototypePolluted(): boolean {
  for (const _ in ObjectProto) return true;
  return false;
}

function value(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'number':
      return number(v);
    case 'string':
      return string(v);
    case 'object':
      if (v === null) {
        room(1);
        buf[pos++] = 0xc0;
        return true;
      }
      return object(v, depth);
    case 'boolean':
      room(1);
      buf[pos++] = v ? 0xc3 : 0xc2;
      return true;
    case 'undefined':
      room(3);
      buf[pos++] = 0xd4;
      buf[pos++] = 0;
      buf[pos++] = 0;
      return true;
    case 'bigint':
      return bigint(v);
    default:
      // function, symbol: structured clone throws; the fallback throws the same error.
      return false;
  }
}

function number(v: number): boolean {
  room(9);
  if (v >>> 0 === v) {
    if (v === 0 && 1 / v < 0) return false; // -0 (msgpack integers have none)
    // Below 0x40 only: 0x40–0x7f are record ids to msgpackr's decoder.
    if (v < 0x40) buf[pos++] = v;
    else if (v < 0x100) {
      buf[pos++] = 0xcc;
      buf[pos++] = v;
    } else if (v < 0x10000) {
      buf[pos++] = 0xcd;
      view.setUint16(pos, v);
      pos += 2;
    } else {
      buf[pos++] = 0xce;
      view.setUint32(pos, v);
      pos += 4;
    }
  } else if ((v | 0) === v) {
    if (v >= -0x20) buf[pos++] = v & 0xff;
    else if (v >= -0x80) {
      buf[pos++] = 0xd0;
      buf[pos++] = v & 0xff;
    } else if (v >= -0x8000) {
      buf[pos++] = 0xd1;
      view.setInt16(pos, v);
      pos += 2;
    } else {
      buf[pos++] = 0xd2;
      view.setInt32(pos, v);
      pos += 4;
    }
  } else {
    buf[pos++] = 0xcb;
    view.setFloat64(pos, v);
    pos += 8;
  }
  return true;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** 64-bit BigInts; wider ones are not packed (structured clone carries any size). */
function bigint(v: bigint): boolean {
  room(9);
  if (v >= INT64_MIN && v <= INT64_MAX) {
    buf[pos++] = 0xd3;
    view.setBigInt64(pos, v);
  } else if (v > 0n && v <= UINT64_MAX) {
    buf[pos++] = 0xcf;
    view.setBigUint64(pos, v);
  } else return false;
  pos += 8;
  return true;
}

function string(s: string): boolean {
  const n = s.length;
  dataLeft -= n;
  if (dataLeft < 0) return false;
  if (n < 32) {
    // Short strings: ASCII is written directly (and is well-formed).
    room(1 + n);
    const at = pos;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[at + 1 + i] = c;
    }
    if (i === n) {
      buf[at] = 0xa0 | n;
      pos = at + 1 + n;
      return true;
    }
  }
  if (!isWellFormed(s)) return false; // a lone surrogate would become U+FFFD
  const max = n * 3;
  room(5 + max);
  // The header is sized for the longest encoding; a non-minimal size is still valid msgpack.
  const hdr = max < 32 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
  const len = buf.write(s, pos + hdr, max, 'utf8');
  if (hdr === 1) buf[pos] = 0xa0 | len;
  else if (hdr === 2) {
    buf[pos] = 0xd9;
    buf[pos + 1] = len;
  } else if (hdr === 3) {
    buf[pos] = 0xda;
    view.setUint16(pos + 1, len);
  } else {
    buf[pos] = 0xdb;
    view.setUint32(pos + 1, len);
  }
  pos += hdr + len;
  return true;
}

function arrayHeader(n: number): void {
  if (n < 16) buf[pos++] = 0x90 | n;
  else if (n < 0x10000) {
    buf[pos++] = 0xdc;
    view.setUint16(pos, n);
    pos += 2;
  } else {
    buf[pos++] = 0xdd;
    view.setUint32(pos, n);
    pos += 4;
  }
}

/** First visit of `o` inside the current message (else a repeat: not packable). */
function firstVisit(o: object): boolean {
  if (root !== undefined) {
    // The message nests objects: start tracking, with its root.
    if (o === root) return false;
    seen.add(root);
    root = undefined;
  } else if (seen.has(o)) return false;
  seen.add(o);
  return true;
}

function object(o: object, depth: number): boolean {
  if (depth > MAX_DEPTH || --objectsLeft < 0 || (depth > 1 && !firstVisit(o))) return false;
  const proto = getPrototypeOf(o);
  if (proto === ObjectProto || proto === null) return isProxy(o) ? false : record(o as Record<string, unknown>, depth + 1);
  if (isProxy(o)) return false;
  if (proto === ArrayProto) return array(o as unknown[], depth + 1);
  const ctor = (o as { constructor?: unknown }).constructor;
  if (proto === Map.prototype) return ctor === Map && map(o as Map<unknown, unknown>, depth + 1);
  if (proto === Set.prototype) {
    if (ctor !== Set) return false;
    room(4);
    buf[pos++] = 0xd4;
    buf[pos++] = 0x73; // 's': the array that follows is a Set
    buf[pos++] = 0;
    const set = o as Set<unknown>;
    arrayHeader(set.size);
    for (const v of set) if (!value(v, depth + 1)) return false;
    return true;
  }
  if (proto === Date.prototype) return ctor === Date && date(o as Date);
  if (proto === RegExp.prototype) {
    if (ctor !== RegExp) return false;
    room(4);
    buf[pos++] = 0xd4;
    buf[pos++] = 0x78; // 'x': [source, flags]; lastIndex restarts at 0, as under structured clone
    buf[pos++] = 0;
    buf[pos++] = 0x92;
    return string((o as RegExp).source) && string((o as RegExp).flags);
  }
  if (proto === ArrayBuffer.prototype) return ctor === ArrayBuffer && binary(o as ArrayBuffer, 16);
  const code = TYPED_CODES.get(proto);
  if (code !== undefined) {
    const v = o as ArrayBufferView;
    const b = v.buffer;
    // The view must span its whole buffer; the buffer counts as reached (two views over one
    // buffer share it under structured clone).
    if (ctor !== proto.constructor || v.byteOffset !== 0 || v.byteLength !== b.byteLength) return false;
    if (getPrototypeOf(b) !== ArrayBuffer.prototype || !firstVisit(b)) return false;
    return binary(b as ArrayBuffer, code);
  }
  return false;
}

/**
 * A plain object as a msgpackr record: its shape's id (after the shape's definition, the
 * first time in this batch), then the values in key order.
 */
function record(o: Record<string, unknown>, depth: number): boolean {
  room(1);
  const at = pos++;
  const mySeq = ++seq;
  let shape = shapes;
  for (const k in o) {
    let next = shape.lastKey === k ? shape.last : shape.next?.get(k);
    if (next === undefined) {
      if (k === '__proto__' || !isWellFormed(k)) return false; // msgpackr reads `__proto__` as `__proto_`
      if (++shapeCount > MAX_SHAPES) {
        shapes = newShape('', undefined);
        shapeCount = 0;
        return false;
      }
      next = newShape(k, shape);
      (shape.next ??= new Map()).set(k, next);
    }
    shape.lastKey = k;
    shape.last = next;
    shape = next;
    const v = o[k];
    if (typeof v === 'number') {
      if (!number(v)) return false;
    } else if (!value(v, depth)) return false;
  }
  if (shape.gen === gen && shape.defSeq < mySeq) {
    buf[at] = shape.id;
    return true;
  }
  return defineShape(shape, at, mySeq);
}

/**
 * Inserts the definition of `shape` before the values written from `at + 1`. The keys are
 * the path to the shape: exactly the keys whose values were written (even if a getter added
 * properties meanwhile).
 */
function defineShape(shape: Shape, at: number, defSeq: number): boolean {
  const keys: string[] = [];
  for (let s: Shape | undefined = shape; s !== shapes && s !== undefined; s = s.parent) keys.push(s.key);
  keys.reverse();
  let id = shape.id;
  if (shape.gen !== gen) {
    // A new id in this batch (a shape defined in this batch already, by a nested record, is
    // defined again, earlier, with its id). Ids are not reused within a batch: a definition
    // is inserted at its record's start, ahead of uses of the id's previous shape that were
    // written meanwhile inside that record; past 64 shapes the batch is not packed.
    if (nextId > 0x7f) return false;
    id = nextId++;
    shape.id = id;
    shape.gen = gen;
  }
  shape.defSeq = defSeq;
  // Write the definition after the values, then rotate it into place.
  const valuesEnd = pos;
  room(8);
  buf[pos++] = 0xd4;
  buf[pos++] = 0x72; // 'r': a record definition
  buf[pos++] = id;
  arrayHeader(keys.length);
  for (const k of keys) if (!string(k)) return false;
  const def = Buffer.from(buf.subarray(valuesEnd, pos));
  const valuesLen = valuesEnd - (at + 1);
  buf.copyWithin(at + def.length, at + 1, valuesEnd);
  def.copy(buf, at);
  pos = at + def.length + valuesLen;
  return true;
}

function array(a: unknown[], depth: number): boolean {
  const n = a.length;
  // Named properties (structured clone keeps them, msgpack has no room for them) are found
  // with Object.keys, which lists the indices too: a pass over the array, hence the bound.
  dataLeft -= n;
  if (n > MAX_ARRAY || dataLeft < 0 || ownKeys(a).length !== n) return false;
  room(5);
  arrayHeader(n);
  for (let i = 0; i < n; i++) {
    const v = a[i];
    if (typeof v === 'number') {
      if (!number(v)) return false;
    } else if (v === undefined && !(i in a))
      return false; // a hole
    else if (!value(v, depth)) return false;
  }
  return true;
}

function map(m: Map<unknown, unknown>, depth: number): boolean {
  const n = m.size;
  room(5);
  if (n < 16) buf[pos++] = 0x80 | n;
  else if (n < 0x10000) {
    buf[pos++] = 0xde;
    view.setUint16(pos, n);
    pos += 2;
  } else {
    buf[pos++] = 0xdf;
    view.setUint32(pos, n);
    pos += 4;
  }
  for (const [k, v] of m) if (!value(k, depth) || !value(v, depth)) return false;
  return true;
}

/** msgpack timestamps (extension -1), as msgpackr writes and reads them. */
function date(d: Date): boolean {
  const t = d.getTime();
  room(15);
  if (Number.isNaN(t)) {
    buf[pos++] = 0xd4;
    buf[pos++] = 0xff;
    buf[pos++] = 0xff;
    return true;
  }
  const seconds = Math.floor(t / 1000);
  const ms = t - seconds * 1000;
  if (ms === 0 && seconds >= 0 && seconds < 0x100000000) {
    buf[pos++] = 0xd6;
    buf[pos++] = 0xff;
    view.setUint32(pos, seconds);
    pos += 4;
  } else if (seconds >= 0 && seconds < 0x400000000) {
    buf[pos++] = 0xd7;
    buf[pos++] = 0xff;
    view.setUint32(pos, ms * 4000000 + Math.floor(seconds / 0x100000000));
    view.setUint32(pos + 4, seconds >>> 0);
    pos += 8;
  } else {
    buf[pos++] = 0xc7;
    buf[pos++] = 12;
    buf[pos++] = 0xff;
    view.setUint32(pos, ms * 1000000);
    view.setBigInt64(pos + 4, BigInt(seconds));
    pos += 12;
  }
  return true;
}

/**
 * An ArrayBuffer (code 16), or a view over all of one: msgpackr's typed-array extension
 * ('t'). Non-empty (an empty buffer may be detached: structured clone throws for those),
 * fixed-length only.
 */
function binary(b: ArrayBuffer, code: number): boolean {
  const n = b.byteLength;
  dataLeft -= n;
  if (n === 0 || dataLeft < 0 || (b as { resizable?: boolean }).resizable === true) return false;
  room(8 + n);
  if (n + 1 < 0x100) {
    buf[pos++] = 0xc7;
    buf[pos++] = n + 1;
  } else if (n + 1 < 0x10000) {
    buf[pos++] = 0xc8;
    view.setUint16(pos, n + 1);
    pos += 2;
  } else {
    buf[pos++] = 0xc9;
    view.setUint32(pos, n + 1);
    pos += 4;
  }
  buf[pos++] = 0x74;
  buf[pos++] = code;
  buf.set(new Uint8Array(b), pos);
  pos += n;
  binaryBytes += n;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Packing frame by frame

/** A packer's buffer past this size is dropped after its batch (one huge batch keeps no memory). */
const PACKER_KEEP_BYTES = 64 * 1024;

/**
 * A packed batch built frame by frame, as the frames are sent, instead of in one walk when the
 * batch is posted: the walk that packs a message is also its check (a message that packs can
 * cross), so a stream of messages to another node is walked once, not twice. The bytes start
 * with `headroom` free bytes (for the caller's frame header), then the msgpack array, whose
 * 32-bit length is written by {@link take}.
 *
 * A frame that does not pack (see the module comment) spoils the batch being built: its
 * frames then go by the caller's exact fallback, from the words it kept. So does a frame
 * packed while another is being packed (a getter that sends): the encoder's state belongs to
 * the outer one.
 */
export class BatchPacker {
  private buf: Buffer;
  private view: DataView;
  private pos = 0;
  private gen = 0;
  private nextId = 0x40;
  private objectsLeft = 0;
  private dataLeft = 0;
  /** Words packed into the batch being built; 0 before its first frame, -1 once spoiled. */
  private words = 0;
  /** Bytes of binary data in the frame {@link frame} packed last. */
  binary = 0;

  constructor(private readonly headroom: number) {
    this.buf = Buffer.allocUnsafeSlow(4 * 1024);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Packs one frame onto the batch being built; false (the batch is spoiled) when it does not pack. */
  frame(tag: number, to: number, a: unknown, b: unknown): boolean {
    if (this.words < 0) return false;
    if (encoding) {
      this.words = -1;
      return false;
    }
    if (active !== this) {
      park();
      buf = this.buf;
      view = this.view;
      pos = this.pos;
      gen = this.gen;
      nextId = this.nextId;
      objectsLeft = this.objectsLeft;
      dataLeft = this.dataLeft;
      active = this;
    }
    if (this.words === 0) {
      if (prototypePolluted()) {
        this.words = -1;
        return false;
      }
      gen = ++gens;
      nextId = 0x40;
      objectsLeft = MAX_OBJECTS;
      dataLeft = MAX_DATA;
      pos = this.headroom + 5;
    }
    encoding = true;
    binaryBytes = 0;
    let ok = false;
    try {
      // Tags, ids and zeros are one byte each: written here, without a call.
      room(2);
      if (tag >>> 0 === tag && tag < 0x40 && (tag !== 0 || 1 / tag > 0)) buf[pos++] = tag;
      else if (!number(tag)) return false;
      if (to >>> 0 === to && to < 0x40 && (to !== 0 || 1 / to > 0)) buf[pos++] = to;
      else if (!number(to)) return false;
      if (!word(a)) return false;
      if (typeof b === 'number' && b >>> 0 === b && b < 0x40 && (b !== 0 || 1 / b > 0)) {
        room(1);
        buf[pos++] = b;
      } else if (!word(b)) return false;
      ok = true;
    } finally {
      // Also when a getter threw: the frame is then half written, and the batch spoiled.
      encoding = false;
      root = undefined;
      if (seen.size > 0) seen.clear();
      this.binary = binaryBytes;
      this.words = ok ? this.words + 4 : -1;
    }
    return true;
  }

  /**
   * The batch built so far, if it holds exactly `words` packed words (else undefined: a frame
   * did not pack, or frames were added without {@link frame}), as a view of this packer's
   * buffer: valid until its next frame. The next frame starts a new batch either way.
   */
  take(words: number): Buffer | undefined {
    if (active === this) park();
    const packed = this.words;
    this.words = 0;
    if (packed !== words || packed <= 0 || prototypePolluted()) {
      this.shrink();
      return undefined;
    }
    const at = this.headroom;
    this.buf[at] = 0xdd;
    this.view.setUint32(at + 1, packed);
    const out = this.buf.subarray(0, this.pos);
    this.shrink();
    return out;
  }

  /** @internal Keeps the encoder's working state (this packer's while it was {@link active}). */
  save(): void {
    this.buf = buf;
    this.view = view;
    this.pos = pos;
    this.gen = gen;
    this.nextId = nextId;
    this.objectsLeft = objectsLeft;
    this.dataLeft = dataLeft;
  }

  private shrink(): void {
    if (this.buf.length <= PACKER_KEEP_BYTES) return;
    this.buf = Buffer.allocUnsafeSlow(4 * 1024);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }
}

/**
 * The packer whose batch the encoder's working state (buf, pos, gen, …) holds: a stream of
 * frames to one packer loads and saves that state once, not at every frame. Anything else
 * that encodes parks it first.
 */
let active: BatchPacker | undefined;

function park(): void {
  if (active === undefined) return;
  active.save();
  active = undefined;
}

// ---------------------------------------------------------------------------------------------
// The API

/**
 * True when every value of `batch` packs exactly (encodes it, discards the bytes). The
 * encoders below make the same decision themselves; this is for tests and diagnostics.
 */
export function packable(batch: unknown[]): boolean {
  return encodeInto(batch, 0);
}

/**
 * The batch packed into a fresh Uint8Array that owns its whole ArrayBuffer (it may be
 * transferred), or undefined when the batch is not exactly encodable or carries transfers:
 * the caller then uses its exact fallback.
 */
export function encodeBatch(batch: unknown[], transfer?: readonly unknown[]): Uint8Array | undefined {
  if ((transfer !== undefined && transfer.length > 0) || !encodeInto(batch, 0)) return undefined;
  return new Uint8Array(buf.subarray(0, pos));
}

/**
 * As {@link encodeBatch}, but the bytes are a view into the encoder's reused buffer: valid
 * only until the next encode on this thread (copy them or use them at once).
 */
export function encodeBatchView(batch: unknown[]): Buffer | undefined {
  return encodeInto(batch, 0) ? buf.subarray(0, pos) : undefined;
}

/** Containers a packed batch may hold: the encoder's objects, the batch array and slack. */
const MAX_PACKED_CONTAINERS = MAX_OBJECTS + 64;

/**
 * Why `bytes` are not a batch the encoder above could have written, or undefined when they
 * could be. Read before msgpackr decodes them, in one pass that allocates nothing: only the
 * types and extensions the encoder writes (no other msgpackr extension, so no BigInt wider than
 * 64 bits, no bundled strings, no errors), a record only after its definition, at most
 * {@link MAX_PACKED_CONTAINERS} arrays, maps, records and extension values, nesting at most
 * MAX_DEPTH + 2, nested arrays at most MAX_ARRAY long, and no bytes after the batch. Without
 * it a hostile peer made msgpackr build an empty Map (about 190 bytes) per byte received: an
 * 8 MB frame exhausted a 1 GiB heap.
 */
export function packedProblem(bytes: Uint8Array): string | undefined {
  const n = bytes.length;
  if (n === 0) return 'truncated';
  const head = bytes[0] as number;
  if (!(head === 0xdd || head === 0xdc || (head >= 0x90 && head <= 0x9f))) return 'not an array';
  /** Values still to read in each open container, innermost last (depth = its length). */
  const open: number[] = [];
  /** Values of each record shape (its key count), by id 0x40-0x7f; -1 while undefined. */
  const shapes = new Int32Array(64).fill(-1);
  let left = 1;
  let p = 0;
  let containers = 0;
  // One pass, no calls on the common path: each value is one byte of type, then its payload
  // (skipped) or its contents (counted into a new open container).
  for (;;) {
    while (left === 0) {
      const up = open.pop();
      if (up === undefined) return p === n ? undefined : `${n - p} bytes after the batch`;
      left = up;
    }
    if (p >= n) return 'truncated';
    left--;
    const b = bytes[p++] as number;
    // Scalars: small and negative fixints, nil, false, true.
    if (b < 0x40 || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
    if (b >= 0xa0 && b <= 0xbf) {
      p += b & 0x1f; // fixstr
      continue;
    }
    let count: number;
    let isArray = false;
    if (b < 0x80) {
      count = shapes[b - 0x40] as number; // a record: its shape's values follow
      if (count < 0) return `record ${b} used before its definition`;
    } else if (b < 0x90) count = (b & 0x0f) * 2;
    else if (b < 0xa0) {
      count = b & 0x0f;
      isArray = true;
    } else {
      switch (b) {
        case 0xcc:
        case 0xd0:
          p += 1;
          continue;
        case 0xcd:
        case 0xd1:
          p += 2;
          continue;
        case 0xca:
        case 0xce:
        case 0xd2:
          p += 4;
          continue;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          p += 8;
          continue;
        case 0xd9:
          if (p >= n) return 'truncated';
          p += 1 + (bytes[p] as number);
          continue;
        case 0xda:
          if (p + 2 > n) return 'truncated';
          p += 2 + u16(bytes, p);
          continue;
        case 0xdb:
          if (p + 4 > n) return 'truncated';
          p += 4 + u32(bytes, p);
          continue;
        case 0xdc:
        case 0xde:
          if (p + 2 > n) return 'truncated';
          count = u16(bytes, p) * (b === 0xde ? 2 : 1);
          isArray = b === 0xdc;
          p += 2;
          break;
        case 0xdd:
        case 0xdf:
          if (p + 4 > n) return 'truncated';
          count = u32(bytes, p) * (b === 0xdf ? 2 : 1);
          isArray = b === 0xdd && p !== 1;
          p += 4;
          break;
        case 0xd4: {
          // fixext 1: undefined (type 0), an invalid Date (-1), a Set or a RegExp (the value
          // that follows), or a record definition (its id, its keys, then its values).
          if (p + 2 > n) return 'truncated';
          const type = bytes[p] as number;
          const data = bytes[p + 1] as number;
          p += 2;
          if (type === 0 || type === 0xff) continue;
          if (++containers > MAX_PACKED_CONTAINERS) return `more than ${MAX_PACKED_CONTAINERS} containers`;
          if (type === 0x73 || type === 0x78) {
            left++;
            continue;
          }
          if (type !== 0x72 || data < 0x40 || data > 0x7f) return `extension ${type}`;
          const keys = recordKeys(bytes, p);
          if (keys < 0) return 'a bad record definition';
          count = shapes[data - 0x40] = bytes[p] === 0xdc ? u16(bytes, p + 1) : (bytes[p] as number) & 0x0f;
          p = keys;
          break;
        }
        case 0xd6:
        case 0xd7:
          // A Date (timestamp extension -1) of 4 or 8 bytes.
          if (p >= n || bytes[p] !== 0xff) return 'a bad timestamp';
          p += 1 + (b === 0xd6 ? 4 : 8);
          continue;
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          // ext 8/16/32: a typed array or ArrayBuffer ('t', code and bytes), or a 12-byte Date.
          const w = b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4;
          if (p + w + 1 > n) return 'truncated';
          const len = w === 1 ? (bytes[p] as number) : w === 2 ? u16(bytes, p) : u32(bytes, p);
          const type = bytes[p + w] as number;
          p += w + 1 + len;
          if (type === 0xff ? len !== 12 : type !== 0x74 || len < 2) return `extension ${type}`;
          if (type === 0x74 && ++containers > MAX_PACKED_CONTAINERS) return `more than ${MAX_PACKED_CONTAINERS} containers`;
          continue;
        }
        default:
          return `type byte 0x${b.toString(16)}`;
      }
    }
    if (++containers > MAX_PACKED_CONTAINERS) return `more than ${MAX_PACKED_CONTAINERS} containers`;
    if (open.length > MAX_DEPTH + 2) return 'nested too deep';
    if (isArray && count > MAX_ARRAY) return `an array of ${count} values`;
    if (count > n - p) return `a container of ${count} values in ${n - p} bytes`;
    open.push(left);
    left = count;
  }
}

function u16(b: Uint8Array, p: number): number {
  return ((b[p] as number) << 8) | (b[p + 1] as number);
}

function u32(b: Uint8Array, p: number): number {
  return (((b[p] as number) << 24) | ((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number)) >>> 0;
}

/** Where a record definition's keys (an array of strings) that start at `p` end; -1 when they are not that. */
function recordKeys(bytes: Uint8Array, p: number): number {
  const n = bytes.length;
  if (p >= n) return -1;
  const h = bytes[p++] as number;
  let count: number;
  if (h >= 0x90 && h <= 0x9f) count = h & 0x0f;
  else if (h === 0xdc && p + 2 <= n) {
    count = u16(bytes, p);
    p += 2;
  } else return -1;
  if (count > n - p) return -1;
  for (let i = 0; i < count; i++) {
    if (p >= n) return -1;
    const s = bytes[p++] as number;
    if (s >= 0xa0 && s <= 0xbf) p += s & 0x1f;
    else if (s === 0xd9 && p + 1 <= n) p += 1 + (bytes[p] as number);
    else if (s === 0xda && p + 2 <= n) p += 2 + u16(bytes, p);
    else if (s === 0xdb && p + 4 <= n) p += 4 + u32(bytes, p);
    else return -1;
    if (p > n) return -1;
  }
  return p;
}

/**
 * The batch in `bytes` (from {@link encodeBatch}). Total over hostile input: anything that is
 * not a packed array throws {@link MalformedBatchError}, never another error. Bytes from
 * another node go through {@link decodeBatchBytes}, which also bounds what they decode to
 * ({@link packedProblem}); a worker thread's come here directly (a worker is not a sandbox:
 * it runs this node's own code with the process's full power, and the check would cost every
 * cross-thread batch).
 */
export function decodeBatch(bytes: Uint8Array): unknown[] {
  let v: unknown;
  try {
    v = unpackr.unpack(bytes);
  } catch (e) {
    throw new MalformedBatchError(`undecodable packed batch (${e instanceof Error ? e.message.slice(0, 200) : 'error'})`);
  }
  if (!Array.isArray(v)) throw new MalformedBatchError('a packed batch that is not an array');
  return v;
}

/**
 * For byte streams (TCP): the batch after a {@link Format} byte: `Format.MSGPACK` and the
 * packed batch when it packs exactly, else `Format.V8` and its `node:v8` serialization
 * (which throws, as `v8.serialize` does, for a function or a symbol).
 */
export function encodeBatchBytes(batch: unknown[]): Uint8Array {
  if (encodeInto(batch, 1)) {
    buf[0] = Format.MSGPACK;
    return new Uint8Array(buf.subarray(0, pos));
  }
  const body = serialize(batch);
  const out = new Uint8Array(1 + body.length);
  out[0] = Format.V8;
  out.set(body, 1);
  return out;
}

/**
 * The batch in bytes from {@link encodeBatchBytes}; throws {@link MalformedBatchError} for
 * anything else. Both forms are bounded as they come from another node: a packed batch by
 * {@link packedProblem} before it is read, a `node:v8` one by {@link v8Problem} (no array, the
 * batch included, longer than its bytes) after.
 */
export function decodeBatchBytes(bytes: Uint8Array): unknown[] {
  const body = bytes.subarray(1);
  switch (bytes[0]) {
    case Format.MSGPACK: {
      // From another node: checked before msgpackr reads it (see packedProblem).
      const problem = packedProblem(body);
      if (problem !== undefined) throw new MalformedBatchError(`not a packed batch: ${problem}`);
      return decodeBatch(body);
    }
    case Format.V8: {
      let v: unknown;
      try {
        v = deserializeCopying(body);
      } catch (e) {
        throw new MalformedBatchError(`undecodable v8 batch (${e instanceof Error ? e.message.slice(0, 200) : 'error'})`);
      }
      if (!Array.isArray(v)) throw new MalformedBatchError('a v8 batch that is not an array');
      const problem = v8Problem(v, body.length);
      if (problem !== undefined) throw new MalformedBatchError(`a v8 batch holding ${problem}`);
      return v;
    }
    default:
      throw new MalformedBatchError(`unknown batch format ${String(bytes[0])}`);
  }
}

/** Bits of the widest BigInt a node:v8 batch may carry (its text takes a millisecond or so). */
export const MAX_BIGINT_BITS = 65536;
const BIGINT_LIMIT = 2n ** BigInt(MAX_BIGINT_BITS);

/**
 * Why a decoded `node:v8` batch of `bytes` bytes is not one a peer may send, or undefined.
 * Each array, at any depth, holds at most as many words as there are bytes (a sparse array of a
 * few bytes can claim 2^32 - 1, and every walk over a message, such as the clone check of a
 * reply, would then loop that long); each BigInt fits in MAX_BIGINT_BITS (turning a 2^27-bit
 * one into text, as an error message does, took half a minute). One pass over what was decoded, which
 * `node:v8` keeps within a few times the bytes.
 */
function v8Problem(batch: unknown[], bytes: number): string | undefined {
  const seen = new Set<object>();
  const todo: unknown[] = [batch];
  while (todo.length > 0) {
    const v = todo.pop();
    if (typeof v === 'bigint') {
      if (v >= BIGINT_LIMIT || v <= -BIGINT_LIMIT) return `a BigInt wider than ${MAX_BIGINT_BITS} bits`;
      continue;
    }
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) continue;
    if (Array.isArray(v)) {
      if (v.length > bytes) return `an array of length ${v.length} in ${bytes} bytes`;
      for (let i = 0; i < v.length; i++) todo.push(v[i]);
      // Named properties (node:v8 keeps them on arrays) are walked too.
      const keys = ownKeys(v);
      if (keys.length !== v.length)
        for (const k of keys) if (String(Number(k)) !== k) todo.push((v as unknown as Record<string, unknown>)[k]);
    } else if (v instanceof Map) {
      for (const [k, e] of v) todo.push(k, e);
    } else if (v instanceof Set) {
      for (const e of v) todo.push(e);
    } else {
      for (const k of ownKeys(v)) todo.push((v as Record<string, unknown>)[k]);
    }
  }
  return undefined;
}

/**
 * `node:v8`'s deserializer makes each typed array and DataView a view into the bytes it reads
 * (zero-copy): a received view's `.buffer` would be the whole frame, with the bytes of every
 * other message in it, kept alive as long as the view. Each view gets a buffer of its own here,
 * as structured clone gives one and as the packed path does.
 */
class CopyingDeserializer extends DefaultDeserializer {
  /** Node's hook for host objects (views); not in its type declarations. */
  _readHostObject(): unknown {
    const v = (
      DefaultDeserializer.prototype as unknown as { _readHostObject(this: DefaultDeserializer): ArrayBufferView }
    )._readHostObject.call(this);
    const own = new Uint8Array(v.byteLength);
    own.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    if (v instanceof DataView) return new DataView(own.buffer);
    // A Buffer arrives as the Uint8Array structured clone makes of it.
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) return own;
    const View = v.constructor as new (b: ArrayBuffer) => ArrayBufferView;
    return new View(own.buffer);
  }
}

function deserializeCopying(body: Uint8Array): unknown {
  const d = new CopyingDeserializer(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  d.readHeader();
  return d.readValue();
}
