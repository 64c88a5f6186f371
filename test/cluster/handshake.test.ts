/** The node handshake: a pure state machine, driven here message by message, with an attacker in the middle. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import fc from 'fast-check';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  duplicateVerdict,
  Handshake,
  type HandshakeMessage,
  type HandshakeOptions,
  type HandshakeStep,
  keepSimultaneous,
  MAX_MESSAGE_BYTES,
  REJECT_REASONS,
  transcript,
} from '../../src/cluster/handshake.js';
import { InvalidArgumentError } from '../../src/index.js';

// Wrap the real timingSafeEqual in a spy, so the tests can see that proofs go through it.
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const SECRET = 'correct horse battery staple!';

function dialer(over: Partial<HandshakeOptions> = {}): Handshake {
  return new Handshake({ role: 'dialer', secret: SECRET, name: 'a@127.0.0.1:4001', creation: 11, ...over });
}
function acceptor(over: Partial<HandshakeOptions> = {}): Handshake {
  return new Handshake({ role: 'acceptor', secret: SECRET, name: 'b@127.0.0.1:4002', creation: 22, ...over });
}

/** Deterministic nonces: each call returns `n` bytes of a fresh counter value. */
function counterBytes(start: number): (n: number) => Uint8Array {
  let i = start;
  return (n) => Buffer.alloc(n, i++);
}

type Tamper = (m: HandshakeMessage, from: 'A' | 'B') => unknown;

interface Run {
  readonly a: HandshakeStep[];
  readonly b: HandshakeStep[];
  readonly wire: { from: 'A' | 'B'; msg: HandshakeMessage }[];
}

/** Drives a dialer and an acceptor to the end, every message through `tamper` (the network). */
function drive(a: Handshake, b: Handshake, tamper: Tamper = (m) => m): Run {
  const run: Run = { a: [], b: [], wire: [] };
  let next: { to: 'A' | 'B'; msg: unknown } | undefined;
  const hello = a.start()!;
  run.wire.push({ from: 'A', msg: hello });
  next = { to: 'B', msg: tamper(hello, 'A') };
  for (let i = 0; i < 10 && next; i++) {
    const target: Handshake = next.to === 'A' ? a : b;
    const step: HandshakeStep = target.receive(next.msg);
    (next.to === 'A' ? run.a : run.b).push(step);
    const from: 'A' | 'B' = next.to;
    next = undefined;
    if (step.send) {
      run.wire.push({ from, msg: step.send });
      // A REJECT is delivered too; after it the peer has nothing more to say.
      if (step.send.type !== 'REJECT' || !step.reject) next = { to: from === 'A' ? 'B' : 'A', msg: tamper(step.send, from) };
      else (from === 'A' ? run.b : run.a).push((from === 'A' ? b : a).receive(step.send));
    }
  }
  return run;
}

function last(steps: HandshakeStep[]): HandshakeStep {
  return steps[steps.length - 1]!;
}

describe('handshake: the happy path', () => {
  it('both sides end up with the authenticated peer, the chosen version and its features', () => {
    const a = dialer({ proto: [1, 3], features: ['monitor', 'compress'], expectPeer: 'b@127.0.0.1:4002' });
    const b = acceptor({ proto: [2, 5], features: ['monitor'] });
    const run = drive(a, b);
    expect(run.wire.map((w) => w.msg.type)).toEqual(['HELLO', 'CHALLENGE', 'PROOF', 'WELCOME']);
    expect(last(run.a).done!.peer).toEqual({ name: 'b@127.0.0.1:4002', creation: 22, proto: 3, features: ['monitor'] });
    expect(last(run.b).done!.peer).toEqual({ name: 'a@127.0.0.1:4001', creation: 11, proto: 3, features: ['monitor', 'compress'] });
    expect(a.state).toBe('up');
    expect(b.state).toBe('up');
    for (const { msg } of run.wire) {
      expect(Buffer.byteLength(JSON.stringify(msg))).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      // Plain JSON: survives a round trip unchanged.
      expect(JSON.parse(JSON.stringify(msg))).toEqual(msg);
    }
  });

  it('the largest messages a node can send still fit in the frame limit', () => {
    const long = (c: string) => `${c.repeat(255)}`;
    const feats = Array.from({ length: 16 }, (_, i) => `${i}`.padEnd(64, 'f'));
    const run = drive(
      dialer({ name: long('a'), features: feats, creation: 0xffffffff }),
      acceptor({ name: long('b'), features: feats, proto: [1, 0xffff] }),
    );
    expect(last(run.b).done).toBeDefined();
    for (const { msg } of run.wire) expect(Buffer.byteLength(JSON.stringify(msg))).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  });

  it('the secret is never sent, and each HELLO carries a fresh 32-byte nonce', () => {
    const run = drive(dialer({ secret: Buffer.from(SECRET) }), acceptor());
    expect(JSON.stringify(run.wire)).not.toContain(SECRET);
    const n1 = (dialer().start() as { nonce: string }).nonce;
    const n2 = (dialer().start() as { nonce: string }).nonce;
    expect(n1).not.toBe(n2);
    expect(Buffer.from(n1, 'base64')).toHaveLength(32);
  });
});

describe('handshake: authentication', () => {
  it('a wrong secret on the acceptor: the dialer, verifying CHALLENGE, rejects auth_failed', () => {
    const run = drive(dialer(), acceptor({ secret: 'another secret, 16+ bytes' }));
    expect(last(run.a)).toEqual({ send: { type: 'REJECT', reason: 'auth_failed' }, reject: 'auth_failed' });
    expect(last(run.b)).toEqual({ reject: 'auth_failed' });
    expect(run.wire.map((w) => w.msg.type)).toEqual(['HELLO', 'CHALLENGE', 'REJECT']);
  });

  it('a wrong secret on the dialer: the acceptor, verifying PROOF, rejects auth_failed', () => {
    // The impostor skips verifying B's proof and answers with a PROOF made with its own key.
    const b = acceptor();
    const nA = Buffer.alloc(32, 7);
    const hello = { type: 'HELLO', proto: [1, 1], name: 'mallory', creation: 5, nonce: nA.toString('base64'), features: [] };
    const ch = b.receive(hello).send as { nonce: string; proof: string };
    const t = transcript(
      [1, 1],
      1,
      { name: 'mallory', creation: 5, nonce: nA, features: [] },
      { name: 'b@127.0.0.1:4002', creation: 22, nonce: Buffer.from(ch.nonce, 'base64'), features: [] },
    );
    const label = Buffer.concat([Buffer.from([0, 0, 0, 13]), Buffer.from('spindle/A→B')]);
    const wrong = createHmac('sha256', 'the wrong secret, 16+ bytes').update(label).update(t).digest('base64');
    expect(b.receive({ type: 'PROOF', proof: wrong })).toEqual({ send: { type: 'REJECT', reason: 'auth_failed' }, reject: 'auth_failed' });
  });

  it('the same forgery with the right secret is accepted (the test above checks the key, not the encoding)', () => {
    const b = acceptor();
    const nA = Buffer.alloc(32, 7);
    const hello = { type: 'HELLO', proto: [1, 1], name: 'mallory', creation: 5, nonce: nA.toString('base64'), features: [] };
    const ch = b.receive(hello).send as { nonce: string };
    const t = transcript(
      [1, 1],
      1,
      { name: 'mallory', creation: 5, nonce: nA, features: [] },
      { name: 'b@127.0.0.1:4002', creation: 22, nonce: Buffer.from(ch.nonce, 'base64'), features: [] },
    );
    const label = Buffer.concat([Buffer.from([0, 0, 0, 13]), Buffer.from('spindle/A→B')]);
    const right = createHmac('sha256', SECRET).update(label).update(t).digest('base64');
    expect(b.receive({ type: 'PROOF', proof: right }).done!.peer.name).toBe('mallory');
  });

  it('a recorded handshake replayed to a new acceptor fails: its fresh nonce changes the transcript', () => {
    const recorded = drive(dialer(), acceptor());
    expect(last(recorded.b).done).toBeDefined();
    const [hello, , proof] = recorded.wire.map((w) => w.msg);
    const b2 = acceptor();
    expect(b2.receive(hello).send!.type).toBe('CHALLENGE');
    expect(b2.receive(proof).reject).toBe('auth_failed');
    // And a recorded CHALLENGE replayed to a new dialer (which sends a fresh nonce) fails too.
    const a2 = dialer();
    a2.start();
    expect(a2.receive(recorded.wire[1]!.msg).reject).toBe('auth_failed');
  });

  it("a reflected proof (B's own proof sent back as the PROOF) fails: the directions have distinct labels", () => {
    const b = acceptor();
    const hello = dialer().start();
    const ch = b.receive(hello).send as { proof: string };
    expect(b.receive({ type: 'PROOF', proof: ch.proof }).reject).toBe('auth_failed');
  });

  it("a node refuses a peer claiming its own name, and a CHALLENGE echoing the dialer's nonce", () => {
    const hello = dialer({ name: 'b@127.0.0.1:4002' }).start();
    expect(acceptor().receive(hello).reject).toBe('bad_message');
    const a = dialer();
    const h = a.start()!;
    const run = drive(dialer(), acceptor());
    const ch = { ...(run.wire[1]!.msg as object), nonce: h.nonce };
    expect(a.receive(ch).reject).toBe('bad_message');
  });

  it.each([
    ['HELLO', 'name', 'c@127.0.0.1:4003'],
    ['HELLO', 'creation', 12],
    ['HELLO', 'features', ['sneaky']],
    ['CHALLENGE', 'name', 'c@127.0.0.1:4003'],
    ['CHALLENGE', 'creation', 23],
    ['CHALLENGE', 'features', ['sneaky']],
  ])('a %s with its %s altered in transit fails auth_failed', (type, key, value) => {
    const run = drive(dialer(), acceptor(), (m) => (m.type === type ? { ...m, [key]: value } : m));
    expect(last(run.a).reject).toBe('auth_failed');
    expect(last(run.b).reject).toBe('auth_failed');
  });

  it('swapping the two identities fails', () => {
    const run = drive(dialer(), acceptor(), (m) => (m.type === 'CHALLENGE' ? { ...m, name: 'a@127.0.0.1:4001x', creation: 11 } : m));
    expect(last(run.a).reject).toBe('auth_failed');
  });
});

describe('handshake: versions', () => {
  it('picks the highest common version', () => {
    const run = drive(dialer({ proto: [1, 4] }), acceptor({ proto: [3, 9] }));
    expect(last(run.a).done!.peer.proto).toBe(4);
  });

  it('no common version: version_mismatch, from the acceptor', () => {
    const run = drive(dialer({ proto: [1, 2] }), acceptor({ proto: [3, 4] }));
    expect(last(run.b)).toEqual({ send: { type: 'REJECT', reason: 'version_mismatch' }, reject: 'version_mismatch' });
    expect(last(run.a)).toEqual({ reject: 'version_mismatch' });
  });

  it('a downgrade (the offered range narrowed in HELLO) fails: the offer is in the transcript', () => {
    const run = drive(dialer({ proto: [1, 2] }), acceptor({ proto: [1, 2] }), (m) => (m.type === 'HELLO' ? { ...m, proto: [1, 1] } : m));
    expect(last(run.a).reject).toBe('auth_failed');
  });

  it('a downgrade (the chosen version lowered in CHALLENGE) fails', () => {
    const run = drive(dialer({ proto: [1, 2] }), acceptor({ proto: [1, 2] }), (m) => (m.type === 'CHALLENGE' ? { ...m, proto: 1 } : m));
    expect(last(run.a).reject).toBe('auth_failed');
  });
});

describe('handshake: peers and connection rules', () => {
  it('a dialer that reached another node than it meant rejects name_mismatch', () => {
    const run = drive(dialer({ expectPeer: 'c@127.0.0.1:4003' }), acceptor());
    expect(last(run.a).reject).toBe('name_mismatch');
    expect(last(run.b).reject).toBe('name_mismatch');
  });

  it("the acceptor's admit hook refuses an authenticated peer (duplicate_connection)", () => {
    const seen: unknown[] = [];
    const run = drive(
      dialer(),
      acceptor({
        admit: (peer) => {
          seen.push(peer);
          return duplicateVerdict({ creation: 11 }, peer) === 'duplicate' ? 'duplicate_connection' : undefined;
        },
      }),
    );
    expect(seen).toEqual([{ name: 'a@127.0.0.1:4001', creation: 11, proto: 1, features: [] }]);
    expect(last(run.a)).toEqual({ reject: 'duplicate_connection' });
    expect(last(run.b).reject).toBe('duplicate_connection');
  });

  it('abort() ends a handshake with timeout (or the given reason); later messages keep the first reason', () => {
    const a = dialer();
    a.start();
    expect(a.abort()).toEqual({ send: { type: 'REJECT', reason: 'timeout' }, reject: 'timeout' });
    expect(a.receive({ type: 'CHALLENGE' })).toEqual({ reject: 'timeout' });
    expect(a.abort('bad_message')).toEqual({ reject: 'timeout' });
    expect(acceptor().abort('duplicate_connection').reject).toBe('duplicate_connection');
    expect(() => acceptor().abort('nope' as 'timeout')).toThrow(InvalidArgumentError);
  });

  it('duplicateVerdict: none, a restarted incarnation, or the same one', () => {
    expect(duplicateVerdict(undefined, { creation: 1 })).toBe('accept');
    expect(duplicateVerdict({ creation: 1 }, { creation: 2 })).toBe('restarted');
    expect(duplicateVerdict({ creation: 2 }, { creation: 2 })).toBe('duplicate');
  });

  it('keepSimultaneous: both sides keep the same connection, the one dialled by the smaller name', () => {
    // a < b: keep the a→b connection. Seen from a it was dialled locally; from b, remotely.
    expect(keepSimultaneous('a', 'b', true)).toBe(true);
    expect(keepSimultaneous('a', 'b', false)).toBe(false);
    expect(keepSimultaneous('b', 'a', false)).toBe(true);
    expect(keepSimultaneous('b', 'a', true)).toBe(false);
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.boolean(), (x, y, d) => {
        fc.pre(x !== y);
        // The same physical connection: dialled by x seen from x is dialled by x seen from y.
        expect(keepSimultaneous(x, y, d)).toBe(keepSimultaneous(y, x, !d));
        // Exactly one of the two connections is kept.
        expect(keepSimultaneous(x, y, true)).not.toBe(keepSimultaneous(x, y, false));
      }),
    );
    expect(() => keepSimultaneous('a', 'a', true)).toThrow(InvalidArgumentError);
  });
});

describe('handshake: hostile input', () => {
  /** A handshake in each state that waits for input. */
  function inState(state: string): Handshake {
    switch (state) {
      case 'dialer before start':
        return dialer();
      case 'await_hello':
        return acceptor();
      case 'await_challenge': {
        const a = dialer();
        a.start();
        return a;
      }
      case 'await_proof': {
        const b = acceptor();
        b.receive(dialer().start());
        return b;
      }
      case 'await_welcome': {
        const a = dialer();
        const b = acceptor();
        a.receive(b.receive(a.start()).send);
        expect(a.state).toBe('await_welcome');
        return a;
      }
      case 'up': {
        const b = acceptor();
        drive(dialer(), b);
        expect(b.state).toBe('up');
        return b;
      }
      default:
        throw new Error(state);
    }
  }
  const STATES = ['dialer before start', 'await_hello', 'await_challenge', 'await_proof', 'await_welcome', 'up'];

  const valid = drive(dialer({ features: ['x'] }), acceptor()).wire.map((w) => w.msg);
  const [HELLO, CHALLENGE, PROOF] = valid as unknown as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];

  const garbage: unknown[] = [
    undefined,
    null,
    0,
    'HELLO',
    [],
    [HELLO],
    { type: 'NOPE' },
    { type: 'hello' },
    Object.create({ type: 'HELLO' }),
    { type: 'HELLO', proto: [1, 1], name: 'x', creation: 1, nonce: 'AAAA', features: [] },
    { ...HELLO, nonce: Buffer.alloc(31).toString('base64') },
    { ...HELLO, nonce: Buffer.alloc(33).toString('base64') },
    { ...HELLO, nonce: `${Buffer.alloc(32).toString('base64').slice(0, -2)}B=` },
    { ...HELLO, nonce: '!'.repeat(44) },
    { ...HELLO, name: '' },
    { ...HELLO, name: 'x'.repeat(256) },
    { ...HELLO, name: 'spaces are not allowed' },
    { ...HELLO, name: 42 },
    { ...HELLO, creation: -1 },
    { ...HELLO, creation: 2 ** 32 },
    { ...HELLO, creation: 1.5 },
    { ...HELLO, creation: '1' },
    { ...HELLO, proto: [2, 1] },
    { ...HELLO, proto: [0, 1] },
    { ...HELLO, proto: [1] },
    { ...HELLO, proto: '1' },
    { ...HELLO, features: ['x', 'x'] },
    { ...HELLO, features: Array.from({ length: 17 }, (_, i) => `f${i}`) },
    { ...HELLO, features: [1] },
    { ...HELLO, features: 'x' },
    { ...HELLO, pad: 'x'.repeat(MAX_MESSAGE_BYTES) },
    { ...CHALLENGE, proof: 'not base64!' },
    { ...CHALLENGE, proof: 'A'.repeat(400) },
    { ...CHALLENGE, proto: 1.5 },
    { ...PROOF, proof: 42 },
    { ...PROOF, proof: ['x'] },
    { type: 'REJECT', reason: 'because' },
    { type: 'REJECT', reason: { toString: 'auth_failed' } },
    { type: 'PROOF', proof: 1n },
  ];

  it.each(STATES)('in state %s, garbage is bad_message (a REJECT to send), never a throw', (state) => {
    for (const g of garbage) {
      const h = inState(state);
      const step = h.receive(g);
      expect(step.reject, JSON.stringify(g, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))?.slice(0, 200)).toBe('bad_message');
      expect(h.state).toBe('failed');
    }
  });

  it('messages out of order are bad_message', () => {
    const cases: [string, unknown][] = [
      ['dialer before start', CHALLENGE],
      ['await_hello', PROOF],
      ['await_hello', CHALLENGE],
      ['await_hello', { type: 'WELCOME' }],
      ['await_challenge', HELLO],
      ['await_challenge', { type: 'WELCOME' }],
      ['await_proof', HELLO],
      ['await_proof', { type: 'WELCOME' }],
      ['await_welcome', CHALLENGE],
      ['await_welcome', PROOF],
      ['up', HELLO],
      ['up', { type: 'WELCOME' }],
    ];
    for (const [state, msg] of cases) {
      const step = inState(state).receive(msg);
      expect(step, `${state} ← ${(msg as { type: string }).type}`).toEqual({
        send: { type: 'REJECT', reason: 'bad_message' },
        reject: 'bad_message',
      });
    }
  });

  it("a peer's REJECT ends the handshake with its reason, and sends nothing back", () => {
    for (const reason of REJECT_REASONS) {
      const a = inState('await_challenge');
      expect(a.receive({ type: 'REJECT', reason })).toEqual({ reject: reason });
    }
  });

  it('random objects fed to receive() in every state never throw', () => {
    const types = fc.constantFrom('HELLO', 'CHALLENGE', 'PROOF', 'WELCOME', 'REJECT', 'x');
    const b64 = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((u) => Buffer.from(u).toString('base64'));
    const field = fc.oneof(fc.anything(), b64, fc.string(), fc.integer(), fc.tuple(fc.integer(), fc.integer()), fc.array(fc.string()));
    const shaped = fc.record(
      {
        type: types,
        proto: fc.oneof(field, fc.tuple(fc.integer({ min: -1, max: 3 }), fc.integer({ min: -1, max: 3 })), fc.integer({ min: 0, max: 3 })),
        name: field,
        creation: field,
        nonce: fc.oneof(field, b64),
        features: field,
        proof: fc.oneof(field, b64),
        reason: fc.oneof(field, fc.constantFrom(...REJECT_REASONS)),
      },
      { requiredKeys: ['type'] },
    );
    // Valid messages with one field replaced.
    const mutated = fc
      .tuple(fc.constantFrom(...valid), fc.constantFrom('type', 'proto', 'name', 'creation', 'nonce', 'features', 'proof'), fc.anything())
      .map(([m, k, v]) => ({ ...m, [k]: v }));
    const input = fc.oneof(fc.anything(), fc.jsonValue(), shaped, mutated);
    fc.assert(
      fc.property(fc.constantFrom(...STATES), fc.array(input, { minLength: 1, maxLength: 3 }), (state, msgs) => {
        const h = inState(state);
        for (const m of msgs) {
          const step = h.receive(m);
          expect(typeof step).toBe('object');
          if (step.reject) expect(REJECT_REASONS).toContain(step.reject);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('handshake: constant-time proof checks', () => {
  const spy = vi.mocked(timingSafeEqual);
  beforeEach(() => {
    spy.mockClear();
  });

  it('both proofs are compared with crypto.timingSafeEqual', () => {
    const run = drive(dialer(), acceptor());
    expect(last(run.b).done).toBeDefined();
    expect(spy).toHaveBeenCalledTimes(2);
    for (const [x, y] of spy.mock.calls) expect((x as Buffer).length).toBe((y as Buffer).length);
  });

  it('a proof of the wrong length is auth_failed without throwing (and without calling it with unequal lengths)', () => {
    for (const len of [0, 1, 31, 33, 48]) {
      const b = inStateProof();
      expect(b.receive({ type: 'PROOF', proof: Buffer.alloc(len, 1).toString('base64') }).reject).toBe('auth_failed');
    }
    expect(spy).not.toHaveBeenCalled();
    const a = dialer();
    const ch = acceptor().receive(a.start()).send as unknown as Record<string, unknown>;
    expect(a.receive({ ...ch, proof: Buffer.alloc(31).toString('base64') }).reject).toBe('auth_failed');
  });

  function inStateProof(): Handshake {
    const b = acceptor({ randomBytes: counterBytes(1) });
    b.receive(dialer({ randomBytes: counterBytes(100) }).start());
    return b;
  }
});

describe('handshake: options', () => {
  it('refuses a short or missing secret, bad names, creations, versions and features with InvalidArgumentError', () => {
    const bad: Partial<HandshakeOptions>[] = [
      { secret: 'short' },
      { secret: Buffer.alloc(15) },
      { secret: 42 as unknown as string },
      { name: '' },
      { name: 'a b' },
      { name: 'x'.repeat(256) },
      { creation: -1 },
      { creation: 2 ** 32 },
      { proto: [2, 1] },
      { proto: [0, 1] },
      { proto: [1] as unknown as [number, number] },
      { features: ['a', 'a'] },
      { features: ['x'.repeat(65)] },
      { role: 'server' as 'dialer' },
      { expectPeer: 'a b' },
    ];
    for (const o of bad) expect(() => dialer(o), JSON.stringify(o)).toThrow(InvalidArgumentError);
    expect(() => acceptor({ expectPeer: 'x' })).toThrow(InvalidArgumentError);
    expect(() => dialer({ secret: Buffer.alloc(16) })).not.toThrow();
    // 16 bytes of UTF-8 from fewer characters counts as 16.
    expect(() => dialer({ secret: 'éééééééé' })).not.toThrow();
  });

  it('copies the secret: mutating the caller buffer afterwards changes nothing', () => {
    const key = Buffer.from(SECRET);
    const a = dialer({ secret: key });
    key.fill(0);
    const run = drive(a, acceptor());
    expect(last(run.b).done).toBeDefined();
  });

  it('start() is the dialer HELLO once; an acceptor has nothing to start with', () => {
    const a = dialer();
    expect(a.start()!.type).toBe('HELLO');
    expect(() => a.start()).toThrow(InvalidArgumentError);
    expect(acceptor().start()).toBeUndefined();
  });

  it('a randomBytes that returns the wrong size is refused', () => {
    expect(() => dialer({ randomBytes: () => Buffer.alloc(8) }).start()).toThrow(InvalidArgumentError);
  });
});
