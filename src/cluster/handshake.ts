/**
 * The node-to-node handshake: a pure, socket-free state machine for a mutual challenge–response
 * over a shared secret. The connection layer feeds it parsed frames (`receive`) and sends what
 * it returns; nothing here touches a socket, a timer or the runtime.
 *
 *   dialer A                                   acceptor B
 *   HELLO { proto: [min,max], name, creation, nonce nA, features } ──▶
 *        ◀── CHALLENGE { proto (chosen), name, creation, nonce nB, features, proof: MAC("spindle/B→A", T) }
 *   PROOF { proof: MAC("spindle/A→B", T) } ──▶
 *        ◀── WELCOME {}            (or REJECT { reason } at any step, from either side)
 *
 * T is the transcript: A's offered range, the chosen version, both names, creations, nonces and
 * feature lists, each field length-prefixed. Every incoming message is treated as hostile:
 * `receive` never throws, it answers `bad_message` instead.
 */
import { createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';

/** Why a handshake failed. */
export type RejectReason = 'auth_failed' | 'bad_message' | 'version_mismatch' | 'timeout' | 'duplicate_connection' | 'name_mismatch';

/** All reasons, for validating a peer's REJECT. */
export const REJECT_REASONS: readonly RejectReason[] = [
  'auth_failed',
  'bad_message',
  'version_mismatch',
  'timeout',
  'duplicate_connection',
  'name_mismatch',
];

/** Dialer → acceptor, first. */
export interface HelloMessage {
  readonly type: 'HELLO';
  /** The protocol versions the dialer speaks, `[min, max]`. */
  readonly proto: readonly [number, number];
  readonly name: string;
  readonly creation: number;
  /** 32 random bytes, base64. */
  readonly nonce: string;
  readonly features: readonly string[];
}

/** Acceptor → dialer: the acceptor's identity, its nonce and its proof over the transcript. */
export interface ChallengeMessage {
  readonly type: 'CHALLENGE';
  /** The version chosen: the highest both sides speak. */
  readonly proto: number;
  readonly name: string;
  readonly creation: number;
  readonly nonce: string;
  readonly features: readonly string[];
  /** HMAC-SHA256(secret, "spindle/B→A" ‖ T), base64. */
  readonly proof: string;
}

/** Dialer → acceptor: the dialer's proof. */
export interface ProofMessage {
  readonly type: 'PROOF';
  /** HMAC-SHA256(secret, "spindle/A→B" ‖ T), base64. */
  readonly proof: string;
}

/** Acceptor → dialer: the handshake succeeded. Extra fields are ignored (and not authenticated). */
export interface WelcomeMessage {
  readonly type: 'WELCOME';
}

/** Either side: the handshake failed; the connection is to be closed. */
export interface RejectMessage {
  readonly type: 'REJECT';
  readonly reason: RejectReason;
}

/** A handshake message: a plain JSON-able object, at most {@link MAX_MESSAGE_BYTES} as JSON. */
export type HandshakeMessage = HelloMessage | ChallengeMessage | ProofMessage | WelcomeMessage | RejectMessage;

/** The authenticated peer, once the handshake is done. */
export interface HandshakePeer {
  readonly name: string;
  readonly creation: number;
  /** The negotiated protocol version. */
  readonly proto: number;
  /** The features the peer announced (authenticated: they are in the transcript). */
  readonly features: readonly string[];
}

/** What to do after a message: send `send` (if any); `done` or `reject` end the handshake. */
export interface HandshakeStep {
  readonly send?: HandshakeMessage;
  readonly done?: { readonly peer: HandshakePeer };
  readonly reject?: RejectReason;
}

/** Options of {@link Handshake}. */
export interface HandshakeOptions {
  readonly role: 'dialer' | 'acceptor';
  /** The cluster secret: a string (UTF-8) or bytes, at least 16 bytes. Copied; never sent. */
  readonly secret: string | Uint8Array;
  /** This node's name: 1–255 printable ASCII characters. */
  readonly name: string;
  /** This node's incarnation: an integer 0–2^32-1. */
  readonly creation: number;
  /** Versions this node speaks, `[min, max]`, integers 1–65535 (default `[1, 1]`). */
  readonly proto?: readonly [number, number];
  /** Features to announce: at most 16 distinct names of 1–64 printable ASCII characters. */
  readonly features?: readonly string[];
  /** Dialer only: the name the dialer meant to reach; another name is `name_mismatch`. */
  readonly expectPeer?: string;
  /**
   * Acceptor only: called with the authenticated peer before WELCOME; a reason rejects it
   * (e.g. `duplicate_connection`, see {@link duplicateVerdict}). Must not throw (a throw is
   * answered as `bad_message`).
   */
  readonly admit?: (peer: HandshakePeer) => RejectReason | undefined;
  /** Source of randomness (tests); default `crypto.randomBytes`. */
  readonly randomBytes?: (n: number) => Uint8Array;
}

/** Largest message, as JSON in UTF-8. */
export const MAX_MESSAGE_BYTES = 4096;
/** Bytes in a nonce and in a proof. */
const NONCE_BYTES = 32;
/** A proof longer than twice this is not even decoded. */
const PROOF_BYTES = 32;
const MAX_NAME = 255;
const MAX_FEATURES = 16;
const NAME_RE = /^[\x21-\x7e]{1,255}$/;
const FEATURE_RE = /^[\x21-\x7e]{1,64}$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const LABEL_B_TO_A = 'spindle/B→A';
const LABEL_A_TO_B = 'spindle/A→B';
const DOMAIN = 'spindle-handshake';

/** Where a handshake stands. */
export type HandshakeState = 'init' | 'await_hello' | 'await_challenge' | 'await_proof' | 'await_welcome' | 'up' | 'failed';

/** Thrown by validation inside `receive`; always caught there. */
class Bad extends Error {}

function fail(): never {
  throw new Bad('bad_message');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** An own property, never one from the prototype chain. */
function own(o: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

function u32(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) fail();
  return v;
}

function version(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 0xffff) fail();
  return v;
}

function nodeName(v: unknown): string {
  if (typeof v !== 'string' || v.length > MAX_NAME || !NAME_RE.test(v)) fail();
  return v;
}

function features(v: unknown): string[] {
  if (!Array.isArray(v) || v.length > MAX_FEATURES) fail();
  const out: string[] = [];
  for (const f of v) {
    if (typeof f !== 'string' || f.length > 64 || !FEATURE_RE.test(f) || out.includes(f)) fail();
    out.push(f);
  }
  return out;
}

/** Canonical base64 of at most `maxBytes` bytes, decoded. */
function base64(v: unknown, maxBytes: number): Buffer {
  if (typeof v !== 'string' || v.length > Math.ceil(maxBytes / 3) * 4 || !BASE64_RE.test(v)) fail();
  const bytes = Buffer.from(v, 'base64');
  // Refuses non-canonical encodings (stray bits in the last character).
  if (bytes.toString('base64') !== v) fail();
  return bytes;
}

function nonce(v: unknown): Buffer {
  const b = base64(v, NONCE_BYTES);
  if (b.length !== NONCE_BYTES) fail();
  return b;
}

/** Length-prefixed field: 4-byte big-endian length, then the bytes. */
function field(bytes: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

function numField(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return field(b);
}

function strField(s: string): Buffer {
  return field(Buffer.from(s, 'utf8'));
}

function listField(list: readonly string[]): Buffer {
  return Buffer.concat([numField(list.length), ...list.map(strField)]);
}

interface Side {
  readonly name: string;
  readonly creation: number;
  readonly nonce: Buffer;
  readonly features: readonly string[];
}

/** The transcript T: every field the proofs bind, unambiguously encoded. */
export function transcript(offered: readonly [number, number], chosen: number, a: Side, b: Side): Buffer {
  return Buffer.concat([
    strField(DOMAIN),
    numField(offered[0]),
    numField(offered[1]),
    numField(chosen),
    strField(a.name),
    numField(a.creation),
    field(a.nonce),
    listField(a.features),
    strField(b.name),
    numField(b.creation),
    field(b.nonce),
    listField(b.features),
  ]);
}

function mac(secret: Buffer, label: string, t: Buffer): Buffer {
  return createHmac('sha256', secret).update(strField(label)).update(t).digest();
}

/** Constant-time comparison; a length mismatch is a plain `false` (the length is not secret). */
function proofMatches(expected: Buffer, got: Buffer): boolean {
  return expected.length === got.length && timingSafeEqual(expected, got);
}

/** JSON size of a message in UTF-8; fails on anything JSON cannot encode. */
function jsonBytes(msg: unknown): number {
  let json: string | undefined;
  try {
    json = JSON.stringify(msg);
  } catch {
    fail();
  }
  if (json === undefined) fail();
  return Buffer.byteLength(json, 'utf8');
}

/**
 * One side of one handshake. Create one per connection; `start()` (the dialer's HELLO), then
 * `receive()` each incoming message until a step has `done` or `reject`.
 */
export class Handshake {
  readonly role: 'dialer' | 'acceptor';
  readonly #secret: Buffer;
  readonly #name: string;
  readonly #creation: number;
  readonly #proto: readonly [number, number];
  readonly #features: readonly string[];
  readonly #expectPeer: string | undefined;
  readonly #admit: ((peer: HandshakePeer) => RejectReason | undefined) | undefined;
  readonly #random: (n: number) => Uint8Array;
  #state: HandshakeState;
  #failure: RejectReason | undefined;
  /** Dialer: its nonce. */
  #nonce: Buffer | undefined;
  /** Acceptor: the transcript and the peer, between CHALLENGE and PROOF. Dialer: the peer, until WELCOME. */
  #transcript: Buffer | undefined;
  #peer: HandshakePeer | undefined;

  constructor(options: HandshakeOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('Handshake options', 'expected an object');
    }
    const { role, secret, name, creation, proto = [1, 1], features: feats = [], expectPeer, admit, randomBytes } = options;
    if (role !== 'dialer' && role !== 'acceptor') throw new InvalidArgumentError('Handshake role', "expected 'dialer' or 'acceptor'");
    let key: Buffer;
    if (typeof secret === 'string') key = Buffer.from(secret, 'utf8');
    else if (secret instanceof Uint8Array) key = Buffer.from(secret);
    else throw new InvalidArgumentError('Handshake secret', 'expected a string or a Buffer');
    if (key.length < 16) throw new InvalidArgumentError('Handshake secret', `expected at least 16 bytes, got ${key.length}`);
    if (typeof name !== 'string' || !NAME_RE.test(name)) {
      throw new InvalidArgumentError('Handshake name', 'expected 1-255 printable ASCII characters');
    }
    if (typeof creation !== 'number' || !Number.isInteger(creation) || creation < 0 || creation > 0xffffffff) {
      throw new InvalidArgumentError('Handshake creation', 'expected an integer 0 to 2^32-1');
    }
    if (
      !Array.isArray(proto) ||
      proto.length !== 2 ||
      !proto.every((v) => Number.isInteger(v) && v >= 1 && v <= 0xffff) ||
      proto[0]! > proto[1]!
    ) {
      throw new InvalidArgumentError('Handshake proto', 'expected [min, max], integers 1-65535 with min <= max');
    }
    let ownFeatures: string[];
    try {
      ownFeatures = features(feats);
    } catch {
      throw new InvalidArgumentError(
        'Handshake features',
        `expected at most ${MAX_FEATURES} distinct names of 1-64 printable ASCII characters`,
      );
    }
    if (expectPeer !== undefined) {
      if (role !== 'dialer') throw new InvalidArgumentError('Handshake expectPeer', 'only a dialer expects a peer');
      if (typeof expectPeer !== 'string' || !NAME_RE.test(expectPeer)) {
        throw new InvalidArgumentError('Handshake expectPeer', 'expected 1-255 printable ASCII characters');
      }
    }
    if (admit !== undefined && typeof admit !== 'function') throw new InvalidArgumentError('Handshake admit', 'expected a function');
    if (randomBytes !== undefined && typeof randomBytes !== 'function') {
      throw new InvalidArgumentError('Handshake randomBytes', 'expected a function');
    }
    this.role = role;
    this.#secret = key;
    this.#name = name;
    this.#creation = creation;
    this.#proto = [proto[0]!, proto[1]!];
    this.#features = ownFeatures;
    this.#expectPeer = expectPeer;
    this.#admit = admit;
    this.#random = randomBytes ?? cryptoRandomBytes;
    this.#state = role === 'dialer' ? 'init' : 'await_hello';
  }

  /** `'up'` once done, `'failed'` once rejected, else the step it waits for. */
  get state(): HandshakeState {
    return this.#state;
  }

  /** The dialer's HELLO; undefined for an acceptor. Throws if called twice. */
  start(): HelloMessage | undefined {
    if (this.role === 'acceptor') return undefined;
    if (this.#state !== 'init') throw new InvalidArgumentError('Handshake.start', 'called twice');
    this.#nonce = this.#freshNonce();
    this.#state = 'await_challenge';
    return {
      type: 'HELLO',
      proto: [this.#proto[0], this.#proto[1]],
      name: this.#name,
      creation: this.#creation,
      nonce: this.#nonce.toString('base64'),
      features: [...this.#features],
    };
  }

  /** Fail the handshake from outside: its timer ran out (`timeout`) or the connection layer refuses it. */
  abort(reason: RejectReason = 'timeout'): HandshakeStep {
    if (!REJECT_REASONS.includes(reason))
      throw new InvalidArgumentError('Handshake.abort reason', `expected one of ${REJECT_REASONS.join(', ')}`);
    if (this.#state === 'failed') return { reject: this.#failure! };
    return this.#reject(reason);
  }

  /** Take one incoming message (any value: it is validated). Never throws. */
  receive(msg: unknown): HandshakeStep {
    if (this.#state === 'failed') return { reject: this.#failure! };
    try {
      if (jsonBytes(msg) > MAX_MESSAGE_BYTES || !isRecord(msg)) fail();
      const type = own(msg, 'type');
      if (type === 'REJECT') {
        const reason = own(msg, 'reason');
        this.#state = 'failed';
        this.#failure = REJECT_REASONS.includes(reason as RejectReason) ? (reason as RejectReason) : 'bad_message';
        return { reject: this.#failure };
      }
      switch (this.#state) {
        case 'await_hello':
          if (type === 'HELLO') return this.#onHello(msg);
          break;
        case 'await_challenge':
          if (type === 'CHALLENGE') return this.#onChallenge(msg);
          break;
        case 'await_proof':
          if (type === 'PROOF') return this.#onProof(msg);
          break;
        case 'await_welcome':
          if (type === 'WELCOME') return this.#up(this.#peer!);
          break;
      }
      // Out of order, unknown, before start() or after the handshake: all bad_message.
      return this.#reject('bad_message');
    } catch {
      return this.#reject('bad_message');
    }
  }

  #onHello(msg: Record<string, unknown>): HandshakeStep {
    const proto = own(msg, 'proto');
    if (!Array.isArray(proto) || proto.length !== 2) fail();
    const offered: [number, number] = [version(proto[0]), version(proto[1])];
    if (offered[0] > offered[1]) fail();
    const a: Side = {
      name: nodeName(own(msg, 'name')),
      creation: u32(own(msg, 'creation')),
      nonce: nonce(own(msg, 'nonce')),
      features: features(own(msg, 'features')),
    };
    // A peer claiming our own name is a loop or a reflection.
    if (a.name === this.#name) fail();
    const chosen = Math.min(offered[1], this.#proto[1]);
    if (chosen < offered[0] || chosen < this.#proto[0]) return this.#reject('version_mismatch');
    const b: Side = { name: this.#name, creation: this.#creation, nonce: this.#freshNonce(), features: this.#features };
    if (b.nonce.equals(a.nonce)) fail();
    const t = transcript(offered, chosen, a, b);
    this.#transcript = t;
    this.#peer = { name: a.name, creation: a.creation, proto: chosen, features: a.features };
    this.#state = 'await_proof';
    return {
      send: {
        type: 'CHALLENGE',
        proto: chosen,
        name: b.name,
        creation: b.creation,
        nonce: b.nonce.toString('base64'),
        features: [...b.features],
        proof: mac(this.#secret, LABEL_B_TO_A, t).toString('base64'),
      },
    };
  }

  #onChallenge(msg: Record<string, unknown>): HandshakeStep {
    const chosen = version(own(msg, 'proto'));
    const b: Side = {
      name: nodeName(own(msg, 'name')),
      creation: u32(own(msg, 'creation')),
      nonce: nonce(own(msg, 'nonce')),
      features: features(own(msg, 'features')),
    };
    const proof = base64(own(msg, 'proof'), 2 * PROOF_BYTES);
    if (b.name === this.#name || b.nonce.equals(this.#nonce!)) fail();
    const a: Side = { name: this.#name, creation: this.#creation, nonce: this.#nonce!, features: this.#features };
    // Our own offer, not what the peer says it saw: a tampered HELLO breaks the proof.
    const t = transcript(this.#proto, chosen, a, b);
    if (!proofMatches(mac(this.#secret, LABEL_B_TO_A, t), proof)) return this.#reject('auth_failed');
    if (chosen < this.#proto[0] || chosen > this.#proto[1]) return this.#reject('version_mismatch');
    if (this.#expectPeer !== undefined && b.name !== this.#expectPeer) return this.#reject('name_mismatch');
    this.#peer = { name: b.name, creation: b.creation, proto: chosen, features: b.features };
    this.#state = 'await_welcome';
    return { send: { type: 'PROOF', proof: mac(this.#secret, LABEL_A_TO_B, t).toString('base64') } };
  }

  #onProof(msg: Record<string, unknown>): HandshakeStep {
    const proof = base64(own(msg, 'proof'), 2 * PROOF_BYTES);
    if (!proofMatches(mac(this.#secret, LABEL_A_TO_B, this.#transcript!), proof)) return this.#reject('auth_failed');
    const peer = this.#peer!;
    const verdict = this.#admit?.(peer);
    if (verdict !== undefined) return this.#reject(REJECT_REASONS.includes(verdict) ? verdict : 'bad_message');
    return { send: { type: 'WELCOME' }, ...this.#up(peer) };
  }

  #up(peer: HandshakePeer): HandshakeStep {
    this.#state = 'up';
    this.#transcript = undefined;
    return { done: { peer } };
  }

  #reject(reason: RejectReason): HandshakeStep {
    this.#state = 'failed';
    this.#failure = reason;
    this.#transcript = undefined;
    return { send: { type: 'REJECT', reason }, reject: reason };
  }

  #freshNonce(): Buffer {
    const bytes = this.#random(NONCE_BYTES);
    if (!(bytes instanceof Uint8Array) || bytes.length !== NONCE_BYTES) {
      throw new InvalidArgumentError('Handshake randomBytes', `expected ${NONCE_BYTES} bytes`);
    }
    return Buffer.from(bytes);
  }
}

/**
 * What to do with an authenticated connection from `incoming` when a connection to a node of
 * the same name may already exist: none (`accept`); one to an earlier or other incarnation
 * (`restarted`: the old one is down, replace it); one to this very incarnation (`duplicate`).
 */
export function duplicateVerdict(
  existing: { readonly creation: number } | undefined,
  incoming: { readonly creation: number },
): 'accept' | 'restarted' | 'duplicate' {
  if (existing === undefined) return 'accept';
  return existing.creation === incoming.creation ? 'duplicate' : 'restarted';
}

/**
 * Two nodes dialled each other at once: both connections are kept by exactly one rule, the
 * same on both sides: keep the one dialled by the lexicographically smaller name (code unit
 * order). Returns true when the connection described (`dialedByLocal`: this node dialled it)
 * is the one to keep.
 */
export function keepSimultaneous(localName: string, remoteName: string, dialedByLocal: boolean): boolean {
  if (localName === remoteName) throw new InvalidArgumentError('keepSimultaneous', 'the two names are equal');
  const localIsSmaller = localName < remoteName;
  return dialedByLocal === localIsSmaller;
}
