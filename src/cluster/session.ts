/**
 * Sessions: the glue that turns a TCP socket into an authenticated peer. `dial` connects and
 * `accept` takes an accepted socket; both wrap the socket in a {@link Connection}, run the
 * {@link Handshake} over HELLO / CHALLENGE / PROOF / WELCOME / REJECT frames, and resolve with a
 * {@link Session} once it is up (then {@link Lanes} owns the connection's frames).
 *
 * Until WELCOME, every frame is checked: a handshake frame whose body `type` is not its kind, a
 * BATCH, or any other kind is answered with REJECT `bad_message`; TICKs (connection liveness)
 * are ignored. A wire error (`bad_frame`, `frame_too_large`) closes the connection with a
 * GOODBYE saying so and fails the handshake as `bad_message`. The handshake timer covers the
 * whole exchange (the TCP connect included, for `dial`): when it fires the handshake is aborted
 * with `timeout` and a REJECT is sent. Every failure rejects with a {@link HandshakeError} and
 * destroys the socket once what was written has been flushed.
 *
 * `listen` is a small acceptor: a `net.Server` that hands each socket to `accept` and limits
 * how often one remote address may fail.
 */
import { createServer, isIP, connect as netConnect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { checkDuration } from '../core/duration.js';
import { HandshakeError, type HandshakeFailureReason, InvalidArgumentError } from '../errors.js';
import { Connection, type ConnectionOptions } from './connection.js';
import {
  Handshake,
  type HandshakeMessage,
  type HandshakeOptions,
  type HandshakePeer,
  type HandshakeStep,
  type RejectReason,
} from './handshake.js';
import { Lanes } from './tcp-transport.js';
import { type Frame, Kind, MAX_HANDSHAKE_BODY } from './wire.js';

/** An authenticated connection to a peer node. */
export interface Session {
  /** Who the peer is (authenticated by the handshake). */
  readonly peer: HandshakePeer;
  readonly connection: Connection;
  /** The lanes of the connection; they own its frames from WELCOME on. */
  readonly lanes: Lanes;
}

/** What both `dial` and `accept` take: this node's identity (as for {@link Handshake}), and limits. */
export interface SessionOptions extends Pick<HandshakeOptions, 'secret' | 'name' | 'creation' | 'proto' | 'features'> {
  /** How long the whole handshake may take, in ms; default 5000. */
  readonly handshakeTimeoutMs?: number;
  /** Options of the {@link Connection}. */
  readonly connection?: ConnectionOptions;
  /**
   * Called synchronously once the handshake is up, before any later frame is routed: open
   * lanes here so as not to miss a batch the peer sends at once (a BATCH for no open lane goes
   * to `lanes.onStray`, dropped by default). Must not throw (a throw closes the session).
   */
  readonly onSession?: (session: Session) => void;
}

/**
 * Mutual TLS under the handshake: each side presents `cert` (with `key`) and accepts only a
 * peer whose certificate is signed by `ca`. The HMAC handshake still runs inside: TLS adds
 * confidentiality and a second, certificate-based authentication; node names are not read
 * from certificates.
 */
export interface TlsOptions {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  readonly ca: string | Buffer | readonly (string | Buffer)[];
}

function checkTls(argument: string, tls: unknown): void {
  if (tls === undefined) return;
  if (typeof tls !== 'object' || tls === null) throw new InvalidArgumentError(argument, 'expected { key, cert, ca }');
  for (const k of ['key', 'cert', 'ca'] as const) {
    const v = (tls as Record<string, unknown>)[k];
    const ok = (x: unknown) => typeof x === 'string' || Buffer.isBuffer(x);
    if (!(ok(v) || (k === 'ca' && Array.isArray(v) && v.length > 0 && v.every(ok))))
      throw new InvalidArgumentError(`${argument}.${k}`, 'expected PEM text or a Buffer');
  }
}

/** Options of {@link dial}. */
export interface DialOptions extends SessionOptions {
  /** Mutual TLS (see {@link TlsOptions}); default plain TCP. */
  readonly tls?: TlsOptions;
  readonly host: string;
  readonly port: number;
  /** Local address to bind the socket to. */
  readonly localAddress?: string;
  /** The name the dialer means to reach; another name fails with `name_mismatch`. */
  readonly expectPeer?: string;
}

/** Options of {@link accept}. */
export interface AcceptOptions extends SessionOptions {
  /** Called with the authenticated peer before WELCOME; a reason rejects it. Must not throw. */
  readonly admit?: (peer: HandshakePeer) => RejectReason | undefined;
}

/** Options of {@link listen}. */
export interface ListenOptions extends AcceptOptions {
  /** Mutual TLS (see {@link TlsOptions}); default plain TCP. */
  readonly tls?: TlsOptions;
  readonly host: string;
  /** Port to bind; 0 picks a free one. */
  readonly port: number;
  /** Called (synchronously, as `onSession`) with each session that comes up. */
  readonly onSession: (session: Session) => void;
  /** Called with each failed handshake and the remote address. */
  readonly onRejected?: (error: HandshakeError, remoteAddress: string) => void;
  /**
   * The node's identity once the port is bound (for `port: 0`, when the name holds the port);
   * replaces `name` and `creation` for every handshake. No socket is accepted before it is known.
   */
  readonly identityForPort?: (port: number) => { readonly name: string; readonly creation: number };
  /** Failures from one address, within `failureWindowMs`, that block it; default 5. */
  readonly maxFailures?: number;
  /** The window the failures are counted over, in ms; default 10000. */
  readonly failureWindowMs?: number;
  /** How long a blocked address has its new sockets closed at once, in ms; default 10000. */
  readonly blockMs?: number;
  /**
   * Sockets in their handshake at once, in all; past it new sockets are closed at once.
   * Default 256.
   */
  readonly maxPendingHandshakes?: number;
  /** Sockets in their handshake at once from one address; default 16. */
  readonly maxPendingPerAddress?: number;
}

/** A running {@link listen}er. */
export interface Listener {
  /** The bound port. */
  readonly port: number;
  /** Stops accepting, destroys the sockets still in their handshake; resolves once the server is closed. */
  close(): Promise<void>;
}

const TYPE_OF_KIND: ReadonlyMap<number, HandshakeMessage['type']> = new Map([
  [Kind.HELLO, 'HELLO'],
  [Kind.CHALLENGE, 'CHALLENGE'],
  [Kind.PROOF, 'PROOF'],
  [Kind.WELCOME, 'WELCOME'],
  [Kind.REJECT, 'REJECT'],
]);

const KIND_OF_TYPE: Readonly<Record<HandshakeMessage['type'], Kind>> = {
  HELLO: Kind.HELLO,
  CHALLENGE: Kind.CHALLENGE,
  PROOF: Kind.PROOF,
  WELCOME: Kind.WELCOME,
  REJECT: Kind.REJECT,
};

function checkOptions(what: string, options: unknown): asserts options is Record<string, unknown> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${what} options`, 'expected an object');
}

/** A duration by the one rule (see core/duration.ts), finite and > 0 here: a session needs a deadline. */
function checkMs(argument: string, v: unknown, fallback: number): number {
  const ms = checkDuration(argument, v, fallback, { infinity: false });
  if (ms === 0) throw new InvalidArgumentError(argument, 'expected a number of milliseconds > 0, got 0');
  return ms;
}

/** A handshake for this session's role, from the identity options both ends share. */
function handshakeFor(role: 'dialer' | 'acceptor', o: SessionOptions, extra: Pick<HandshakeOptions, 'expectPeer' | 'admit'>): Handshake {
  return new Handshake({ role, secret: o.secret, name: o.name, creation: o.creation, proto: o.proto, features: o.features, ...extra });
}

function checkHook(argument: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'function') throw new InvalidArgumentError(argument, 'expected a function');
}

/** Destroys the socket once what was written is flushed (at once when nothing can be). */
function destroyAfterFlush(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting || socket.writableFinished || !socket.writableEnded) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
}

/** The largest frame read before the handshake is done: a handshake message's (kind byte + body). */
const HANDSHAKE_FRAME_LIMIT = 1 + MAX_HANDSHAKE_BODY;

/** Runs the handshake over `connection`; `label` names the other end in errors. */
function run(
  connection: Connection,
  handshake: Handshake,
  timeoutMs: number,
  label: string,
  onSession: ((session: Session) => void) | undefined,
): Promise<Session> {
  return new Promise<Session>((resolve, reject) => {
    let settled = false;
    // Until the peer is authenticated only handshake-sized frames are read: a stranger cannot
    // make this node buffer a large body (a BATCH header declaring 64 MiB closes the socket).
    connection.limitFrames(HANDSHAKE_FRAME_LIMIT);
    const timer = setTimeout(() => step(handshake.abort('timeout')), timeoutMs);

    const fail = (reason: HandshakeFailureReason, send: HandshakeMessage | undefined): void => {
      settled = true;
      clearTimeout(timer);
      connection.onFrame(undefined);
      if (send !== undefined) connection.send(Kind.REJECT, send as unknown as Record<string, unknown>);
      connection.close(`handshake:${reason}`);
      destroyAfterFlush(connection.socket);
      reject(new HandshakeError(reason, label));
    };

    function step(s: HandshakeStep): void {
      if (settled) return;
      if (s.reject !== undefined) {
        fail(s.reject, s.send);
        return;
      }
      if (s.send !== undefined) connection.send(KIND_OF_TYPE[s.send.type], s.send as unknown as Record<string, unknown>);
      if (s.done !== undefined) {
        settled = true;
        clearTimeout(timer);
        connection.limitFrames(undefined);
        const session: Session = { peer: s.done.peer, connection, lanes: new Lanes(connection) };
        try {
          onSession?.(session);
        } catch {
          connection.close('handshake:on_session_threw');
          destroyAfterFlush(connection.socket);
          reject(new HandshakeError('connection_closed', label));
          return;
        }
        resolve(session);
      }
    }

    connection.onFrame((frame: Frame) => {
      if (settled || frame.kind === Kind.TICK) return;
      const type = TYPE_OF_KIND.get(frame.kind);
      if (type === undefined || !('body' in frame) || frame.body.type !== type) {
        step(handshake.abort('bad_message'));
        return;
      }
      step(handshake.receive(frame.body));
    });

    connection.onClose((reason) => {
      if (settled) return;
      const why: HandshakeFailureReason = reason === 'bad_frame' || reason === 'frame_too_large' ? 'bad_message' : 'connection_closed';
      fail(why, undefined);
    });

    if (!settled) {
      const hello = handshake.start();
      if (hello !== undefined) step({ send: hello });
    }
  });
}

/**
 * Connects to `host:port` and runs the dialer's side of the handshake. Never throws: bad
 * options (InvalidArgumentError) and anything the socket's connect refuses at once reject the
 * promise as a failed handshake does.
 */
export function dial(options: DialOptions): Promise<Session> {
  let handshake: Handshake;
  let timeoutMs: number;
  try {
    checkOptions('dial', options);
    const { host, port, localAddress } = options;
    if (typeof host !== 'string' || host === '') throw new InvalidArgumentError('dial host', 'expected a non-empty string');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InvalidArgumentError('dial port', `expected an integer 1-65535, got ${String(port)}`);
    }
    // Node's connect throws at once for a local address that is not an IP (a host name, say).
    if (localAddress !== undefined && (typeof localAddress !== 'string' || isIP(localAddress) === 0)) {
      throw new InvalidArgumentError(
        'dial localAddress',
        `expected an IP address, got ${typeof localAddress === 'string' ? JSON.stringify(localAddress.slice(0, 80)) : typeof localAddress}`,
      );
    }
    checkHook('dial onSession', options.onSession);
    checkTls('dial tls', options.tls);
    timeoutMs = checkMs('dial handshakeTimeoutMs', options.handshakeTimeoutMs, 5000);
    handshake = handshakeFor('dialer', options, { expectPeer: options.expectPeer });
  } catch (e) {
    return Promise.reject(e);
  }
  const tls = options.tls;
  // A socket bound to a local address reaches only peers of its family: a host name is looked
  // up in that family (`localhost` may list ::1 first for a socket bound to 127.0.0.1).
  const local = options.localAddress === undefined ? {} : { localAddress: options.localAddress, family: isIP(options.localAddress) };
  let socket: Socket;
  try {
    socket =
      tls === undefined
        ? netConnect({ host: options.host, port: options.port, ...local })
        : tlsConnect({
            host: options.host,
            port: options.port,
            ...local,
            key: tls.key,
            cert: tls.cert,
            ca: tls.ca as string | Buffer | (string | Buffer)[],
            rejectUnauthorized: true,
            // Peers are named by the handshake, not by host names in certificates: the CA is the check.
            checkServerIdentity: () => undefined,
          });
  } catch (e) {
    // Whatever connect refuses at once is a failed dial, never a throw out of dial().
    return Promise.reject(e);
  }
  let connection: Connection;
  try {
    connection = new Connection(socket, options.connection);
  } catch (e) {
    socket.destroy();
    return Promise.reject(e);
  }
  return run(connection, handshake, timeoutMs, `${options.host}:${options.port}`, options.onSession);
}

/** Runs the acceptor's side of the handshake on an accepted socket (destroyed if it fails). */
export function accept(socket: Socket, options: AcceptOptions): Promise<Session> {
  let handshake: Handshake;
  let timeoutMs: number;
  let connection: Connection;
  try {
    checkOptions('accept', options);
    checkHook('accept onSession', options.onSession);
    timeoutMs = checkMs('accept handshakeTimeoutMs', options.handshakeTimeoutMs, 5000);
    handshake = handshakeFor('acceptor', options, { admit: options.admit });
    connection = new Connection(socket, options.connection);
  } catch (e) {
    socket.destroy();
    return Promise.reject(e);
  }
  const label = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
  return run(connection, handshake, timeoutMs, label, options.onSession);
}

interface Failures {
  /** Times of the recent failures (ms, `Date.now()`). */
  times: number[];
  blockedUntil: number;
}

/** Most addresses tracked at once; beyond it the stale ones are swept. */
const MAX_TRACKED = 4096;

/**
 * Listens on `host:port` and runs `accept` on every socket. An address with `maxFailures`
 * failed handshakes within `failureWindowMs` has its new sockets destroyed at once for `blockMs`.
 */
export function listen(options: ListenOptions): Promise<Listener> {
  let maxFailures: number;
  let windowMs: number;
  let blockMs: number;
  let maxPending: number;
  let maxPendingPerAddress: number;
  try {
    checkOptions('listen', options);
    if (typeof options.host !== 'string' || options.host === '') {
      throw new InvalidArgumentError('listen host', 'expected a non-empty string');
    }
    const port = options.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new InvalidArgumentError('listen port', `expected an integer 0-65535, got ${String(port)}`);
    }
    if (typeof options.onSession !== 'function') throw new InvalidArgumentError('listen onSession', 'expected a function');
    checkHook('listen onRejected', options.onRejected);
    checkHook('listen admit', options.admit);
    checkTls('listen tls', options.tls);
    checkMs('listen handshakeTimeoutMs', options.handshakeTimeoutMs, 5000);
    maxFailures = checkCount('listen maxFailures', options.maxFailures, 5);
    windowMs = checkMs('listen failureWindowMs', options.failureWindowMs, 10_000);
    blockMs = checkMs('listen blockMs', options.blockMs, 10_000);
    maxPending = checkCount('listen maxPendingHandshakes', options.maxPendingHandshakes, 256);
    maxPendingPerAddress = checkCount('listen maxPendingPerAddress', options.maxPendingPerAddress, 16);
    // Validates secret, name, creation, proto and features before anything is bound.
    handshakeFor('acceptor', options, {});
  } catch (e) {
    return Promise.reject(e);
  }

  const failures = new Map<string, Failures>();
  const pending = new Set<Socket>();
  /** Sockets in their handshake per remote address (entries removed at 0). */
  const pendingFrom = new Map<string, number>();
  let closed = false;

  const isBlocked = (address: string, now: number): boolean => {
    const f = failures.get(address);
    if (f === undefined) return false;
    if (f.blockedUntil > now) return true;
    f.times = f.times.filter((t) => now - t < windowMs);
    if (f.times.length === 0) failures.delete(address);
    return false;
  };

  const noteFailure = (address: string): void => {
    const now = Date.now();
    if (failures.size >= MAX_TRACKED && !failures.has(address)) {
      for (const [a, f] of failures) if (f.blockedUntil <= now && f.times.every((t) => now - t >= windowMs)) failures.delete(a);
      if (failures.size >= MAX_TRACKED) failures.delete(failures.keys().next().value as string);
    }
    const f = failures.get(address) ?? { times: [], blockedUntil: 0 };
    f.times = f.times.filter((t) => now - t < windowMs);
    f.times.push(now);
    if (f.times.length >= maxFailures) {
      f.blockedUntil = now + blockMs;
      f.times = [];
    }
    failures.set(address, f);
  };

  let acceptOptions: AcceptOptions = {
    secret: options.secret,
    name: options.name,
    creation: options.creation,
    proto: options.proto,
    features: options.features,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    connection: options.connection,
    admit: options.admit,
    onSession: options.onSession,
  };

  const onSocket = (socket: Socket): void => {
    const address = socket.remoteAddress ?? '?';
    const from = pendingFrom.get(address) ?? 0;
    // Abandoned handshakes hold a socket each until their timeout: a bounded number of them.
    if (closed || isBlocked(address, Date.now()) || pending.size >= maxPending || from >= maxPendingPerAddress) {
      socket.destroy();
      return;
    }
    pending.add(socket);
    pendingFrom.set(address, from + 1);
    const done = (): void => {
      pending.delete(socket);
      const n = (pendingFrom.get(address) ?? 1) - 1;
      if (n <= 0) pendingFrom.delete(address);
      else pendingFrom.set(address, n);
    };
    accept(socket, acceptOptions).then(
      () => done(),
      (e: unknown) => {
        done();
        // Sockets destroyed by close() are not the peer's failures.
        if (closed || !HandshakeError.is(e)) return;
        noteFailure(address);
        options.onRejected?.(e, address);
      },
    );
  };
  const tls = options.tls;
  const server: Server =
    tls === undefined
      ? createServer(onSocket)
      : createTlsServer(
          {
            key: tls.key,
            cert: tls.cert,
            ca: tls.ca as string | Buffer | (string | Buffer)[],
            requestCert: true,
            rejectUnauthorized: true,
          },
          onSocket,
        );

  return new Promise<Listener>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : options.port;
      if (options.identityForPort !== undefined) acceptOptions = { ...acceptOptions, ...options.identityForPort(port) };
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            closed = true;
            for (const s of pending) s.destroy();
            pending.clear();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A count option: a safe integer ≥ 1, or `fallback` when absent. */
function checkCount(name: string, v: number | undefined, fallback: number): number {
  const n = v ?? fallback;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(name, `expected a positive integer, got ${String(n)}`);
  }
  return n;
}
