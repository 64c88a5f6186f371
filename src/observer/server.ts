/**
 * The observer's HTTP server over an {@link ObserverSource}: the page, the JSON snapshot, the
 * SSE stream, Prometheus metrics and the (opt-in) actions.
 *
 * Everything that arrives is hostile until checked: the URL (2 KiB at most), the token
 * (compared in constant time over digests), the Host header on loopback (against DNS
 * rebinding), bodies (JSON, 4 KiB at most), the number of live clients (16). Action targets
 * are resolved only through `source.resolve`: text from a browser is never parsed into a ref.
 *
 * Sampling runs only while at least one SSE client is connected: one sampler drives
 * `source.snapshot()` every `intervalMs` and fans each snapshot out; lifecycle events are
 * subscribed to only while someone listens, and a crash or restart triggers an early sample.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Process } from '../behaviours/process.js';
import { Supervisor } from '../behaviours/supervisor/supervisor.js';
import { checkDuration } from '../core/duration.js';
import { currentRuntime, Runtime, withRuntime } from '../core/runtime.js';
import { checkBoolean, checkInteger, checkOptions, describeValue } from '../core/validate.js';
import { ChildNotFoundError, InvalidArgumentError, NoProcessError } from '../errors.js';
import type { ActionRecord, ObservedEvent, ObserverSource, Snapshot } from './model.js';
import type { ObserverOptions, RunningObserver } from './observer.js';
import { PAGE_CSS, PAGE_JS, pageHtml } from './page.js';

/** Longest request target accepted (path and query), in characters. */
export const MAX_URL_LENGTH = 2048;
/** Largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 4096;
/** Most SSE clients at once; one more gets 503. */
export const MAX_SSE_CLIENTS = 16;
/** Actions kept in the in-memory log. */
export const MAX_LOG = 100;
/** Shortest token accepted. */
export const MIN_TOKEN_LENGTH = 16;
/** An SSE client whose unsent output exceeds this is dropped (it does not read). */
const MAX_SSE_BACKLOG = 8 * 1024 * 1024;
/**
 * A lifecycle event (or an action) triggers a sample this soon, coalescing bursts; later than
 * the collector's reuse window, so the sample is a fresh one. The event itself goes out at once.
 */
const EVENT_SAMPLE_DELAY_MS = 300;

/** Options after validation. @internal */
export interface ObserverSettings {
  readonly port: number;
  readonly host: string;
  readonly token: string | undefined;
  readonly actions: boolean;
  readonly intervalMs: number;
  readonly runtime: Runtime;
}

/** True for an address or name that stays on this machine: 127.x.x.x, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '[::1]') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m?.slice(1).every((p) => Number(p) <= 255) === true;
}

/** The host name of a Host header (`name`, `name:port`, `[v6]:port`), lowercased; undefined when malformed. */
function hostOfHeader(header: string | undefined): string | undefined {
  if (header === undefined || header === '' || header.length > 300) return undefined;
  const h = header.toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  if (colon < 0) return h;
  if (!/^\d{1,5}$/.test(h.slice(colon + 1))) return undefined;
  return h.slice(0, colon);
}

/**
 * Checks the options of `Observer.start` and fills in the defaults; throws
 * InvalidArgumentError naming the first bad one. @internal
 */
export function resolveObserverOptions(options: unknown): ObserverSettings {
  const o = checkOptions<ObserverOptions>('options passed to Observer.start', options);
  const port = checkInteger('port', o.port, 0, 0, 65535);
  let host = '127.0.0.1';
  if (o.host !== undefined) {
    if (typeof o.host !== 'string' || o.host.trim() === '' || o.host.length > 255 || /[\s/?#@]/.test(o.host))
      throw new InvalidArgumentError('host', `expected an address or host name, got ${describeValue(o.host)}`);
    host = o.host;
  }
  let token: string | undefined;
  if (o.token !== undefined) {
    if (typeof o.token !== 'string')
      throw new InvalidArgumentError(
        'token',
        `expected a string of at least ${MIN_TOKEN_LENGTH} characters, got ${describeValue(o.token)}`,
      );
    if (o.token.length < MIN_TOKEN_LENGTH || o.token.length > 1024)
      throw new InvalidArgumentError('token', `expected ${MIN_TOKEN_LENGTH} to 1024 characters, got ${o.token.length}`);
    if (!/^[\x21-\x7e]+$/.test(o.token)) throw new InvalidArgumentError('token', 'expected printable ASCII characters without spaces');
    token = o.token;
  }
  if (token === undefined && !isLoopbackHost(host))
    throw new InvalidArgumentError(
      'host',
      `${JSON.stringify(host)} is not a loopback address: an observer reachable from other machines needs a token`,
    );
  const actions = checkBoolean('actions', o.actions, false);
  const intervalMs = checkDuration('intervalMs', o.intervalMs, 1000, { min: 100, infinity: false });
  if (intervalMs > 60_000)
    throw new InvalidArgumentError('intervalMs', `expected a number of milliseconds from 100 to 60000, got ${String(intervalMs)}`);
  let runtime: Runtime;
  if (o.runtime === undefined) runtime = currentRuntime();
  else if (o.runtime instanceof Runtime) runtime = o.runtime;
  else throw new InvalidArgumentError('runtime', `expected a Runtime, got ${describeValue(o.runtime)}`);
  return { port, host, token, actions, intervalMs, runtime };
}

/** A request refused with a status and a JSON error. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const JSON_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The page and its headers, built once: the CSP allows exactly the page's own script and style. */
const PAGE = pageHtml();
const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Content-Security-Policy': [
    "default-src 'none'",
    `script-src ${cspHash(PAGE_JS)}`,
    `style-src ${cspHash(PAGE_CSS)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
} as const;

type ActionName = ActionRecord['action'];
const ACTIONS: ReadonlySet<string> = new Set<ActionName>(['kill', 'restart_child', 'stop_tree']);

function errorMessage(e: unknown): string {
  const m = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return m.length > 500 ? `${m.slice(0, 500)}…` : m;
}

/** One connected SSE client. */
interface SseClient {
  readonly res: ServerResponse;
}

/**
 * Serves the observer over `source` with validated `settings`; resolves once it listens.
 * The source is closed by `stop()`. @internal
 */
export async function serveObserver(source: ObserverSource, settings: ObserverSettings): Promise<RunningObserver> {
  const rt = settings.runtime;
  const tokenDigest = settings.token === undefined ? undefined : sha256(settings.token);
  const log: ActionRecord[] = [];
  let actionsTaken = 0;
  const clients = new Set<SseClient>();
  let stopped: Promise<void> | undefined;

  // --- sampling: only while a client is connected -------------------------------------------
  let timer: NodeJS.Timeout | undefined;
  let early: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let sampling = false;
  let again = false;
  let latest: Omit<Snapshot, 'actions' | 'log'> | undefined;

  const withLog = (s: Omit<Snapshot, 'actions' | 'log'>): Snapshot => ({ ...s, actions: settings.actions, log: [...log] });

  function send(c: SseClient, event: string, data: string): void {
    if (c.res.writableEnded || c.res.destroyed) return;
    if (c.res.writableLength > MAX_SSE_BACKLOG) {
      // A client that does not read: drop it rather than buffer without bound.
      c.res.destroy();
      return;
    }
    c.res.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  function broadcast(event: string, data: string): void {
    for (const c of clients) send(c, event, data);
  }

  /**
   * Takes a snapshot and sends it to every client. A periodic tick that finds one in flight is
   * skipped (a slow source is not sampled back to back); an event's request runs after it.
   */
  async function sample(afterEvent = false): Promise<void> {
    if (sampling) {
      if (afterEvent) again = true;
      return;
    }
    sampling = true;
    try {
      do {
        again = false;
        if (clients.size === 0 || stopped !== undefined) return;
        try {
          latest = await source.snapshot();
        } catch (e) {
          rt.logger.warn(`observer: snapshot failed: ${errorMessage(e)}`);
          continue;
        }
        if (clients.size === 0 || stopped !== undefined) return;
        broadcast('snapshot', JSON.stringify(withLog(latest)));
      } while (again);
    } finally {
      sampling = false;
    }
  }

  function sampleSoon(): void {
    if (early !== undefined || clients.size === 0) return;
    early = setTimeout(() => {
      early = undefined;
      void sample(true);
    }, EVENT_SAMPLE_DELAY_MS);
  }

  function onEvent(e: ObservedEvent): void {
    broadcast('lifecycle', JSON.stringify(e));
    sampleSoon();
  }

  function startSampling(): void {
    unsubscribe = source.onEvent(onEvent);
    timer = setInterval(() => void sample(), settings.intervalMs);
    timer.unref();
  }

  function stopSampling(): void {
    if (timer !== undefined) clearInterval(timer);
    if (early !== undefined) clearTimeout(early);
    timer = early = undefined;
    latest = undefined;
    try {
      unsubscribe?.();
    } catch {
      // an unsubscribe that throws must not keep the sampler alive
    }
    unsubscribe = undefined;
  }

  // --- requests -------------------------------------------------------------------------------
  function checkAccess(req: IncomingMessage, url: URL): void {
    if (tokenDigest !== undefined) {
      const auth = req.headers.authorization;
      let given: string | undefined;
      if (typeof auth === 'string' && /^bearer /i.test(auth)) given = auth.slice(7).trim();
      else given = url.searchParams.get('token') ?? undefined;
      if (given === undefined || !timingSafeEqual(sha256(given), tokenDigest))
        throw new HttpError(401, 'unauthorized', 'a valid token is required (Authorization: Bearer <token> or ?token=<token>)', {
          'WWW-Authenticate': 'Bearer realm="spindle-observer"',
        });
      return;
    }
    const host = hostOfHeader(req.headers.host);
    if (host === undefined || !isLoopbackHost(host))
      throw new HttpError(403, 'forbidden_host', 'the Host header must name a loopback address (127.x.x.x, localhost or [::1])');
  }

  function allow(req: IncomingMessage, ...methods: string[]): void {
    if (!methods.includes(req.method ?? ''))
      throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here; use ${methods.join(' or ')}`, {
        Allow: methods.join(', '),
      });
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { ...JSON_HEADERS, ...headers, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) throw new HttpError(415, 'unsupported_media_type', 'the body must be application/json');
    const length = Number(req.headers['content-length'] ?? Number.NaN);
    if (Number.isFinite(length) && length > MAX_BODY_BYTES)
      throw new HttpError(413, 'body_too_large', `the body must be at most ${MAX_BODY_BYTES} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) throw new HttpError(413, 'body_too_large', `the body must be at most ${MAX_BODY_BYTES} bytes`);
      chunks.push(chunk as Buffer);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HttpError(400, 'bad_json', 'the body is not valid JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'bad_body', 'expected a JSON object');
    return body as Record<string, unknown>;
  }

  function textField(body: Record<string, unknown>, field: string): string {
    const v = Object.hasOwn(body, field) ? body[field] : undefined;
    if (typeof v !== 'string' || v === '' || v.length > 1024)
      throw new HttpError(400, 'bad_body', `"${field}" must be a non-empty string of at most 1024 characters`);
    return v;
  }

  async function act(req: IncomingMessage, res: ServerResponse, action: string): Promise<void> {
    allow(req, 'POST');
    if (!ACTIONS.has(action)) throw new HttpError(404, 'not_found', `no action ${JSON.stringify(action.slice(0, 40))}`);
    const name = action as ActionName;
    if (!settings.actions) {
      rt.logger.warn(`observer: refused action ${name}: actions are disabled`);
      throw new HttpError(403, 'actions_disabled', 'actions are disabled on this observer (start it with actions: true)');
    }
    // Defence in depth against cross-site requests (JSON bodies already need a CORS preflight,
    // which is never granted): a browser's Origin must be this very origin.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`)
      throw new HttpError(403, 'forbidden_origin', 'actions are accepted only from the observer page itself');
    const body = await readJson(req);
    const target = textField(body, 'ref');
    const id = name === 'restart_child' ? textField(body, 'id') : null;
    const ref = source.resolve(target);
    if (ref === undefined)
      throw new HttpError(404, 'unknown_ref', `no process ${JSON.stringify(target.slice(0, 100))} is known to this observer`);
    const who = `${req.socket.remoteAddress ?? '?'}`;
    const what = `${name} ${target}${id === null ? '' : ` child ${JSON.stringify(id)}`}`;
    rt.logger.info(`observer: ${what} (requested from ${who})`, { action: name, target, id });
    let error: string | null = null;
    let failure: unknown;
    try {
      if (name === 'kill') withRuntime(rt, () => Process.exit(ref, 'kill'));
      else if (name === 'stop_tree') await withRuntime(rt, () => Supervisor.stop(ref as never));
      else {
        const child = id as string;
        await withRuntime(rt, () => Supervisor.terminateChild(ref as never, child));
        await withRuntime(rt, () => Supervisor.restartChild(ref as never, child));
      }
    } catch (e) {
      failure = e;
      error = errorMessage(e);
    }
    const record: ActionRecord = { at: Date.now(), action: name, target, id, ok: error === null, error };
    actionsTaken++;
    log.push(record);
    if (log.length > MAX_LOG) log.splice(0, log.length - MAX_LOG);
    if (error !== null) rt.logger.warn(`observer: ${what} failed: ${error}`, { action: name, target, id, error });
    sampleSoon();
    if (error === null) sendJson(res, 200, { ok: true, record });
    else
      sendJson(res, NoProcessError.is(failure) || ChildNotFoundError.is(failure) ? 404 : 409, {
        ok: false,
        error: 'action_failed',
        message: error,
        record,
      });
  }

  function openEvents(req: IncomingMessage, res: ServerResponse): void {
    allow(req, 'GET');
    if (clients.size >= MAX_SSE_CLIENTS)
      throw new HttpError(503, 'too_many_clients', `at most ${MAX_SSE_CLIENTS} live clients at once`, { 'Retry-After': '5' });
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Content-Type-Options': 'nosniff',
      'X-Accel-Buffering': 'no',
    });
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    res.write('retry: 2000\n\n');
    const client: SseClient = { res };
    clients.add(client);
    const close = () => {
      if (!clients.delete(client)) return;
      if (clients.size === 0) stopSampling();
    };
    res.on('close', close);
    res.on('error', close);
    if (clients.size === 1) {
      startSampling();
      void sample();
    } else if (latest !== undefined) send(client, 'snapshot', JSON.stringify(withLog(latest)));
    else void sample();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    if (target.length > MAX_URL_LENGTH) throw new HttpError(414, 'uri_too_long', `the URL must be at most ${MAX_URL_LENGTH} characters`);
    let url: URL;
    try {
      url = new URL(target, 'http://observer.invalid');
    } catch {
      throw new HttpError(400, 'bad_url', 'malformed URL');
    }
    checkAccess(req, url);
    const path = url.pathname;
    if (path === '/' || path === '/index.html') {
      allow(req, 'GET', 'HEAD');
      res.writeHead(200, { ...PAGE_HEADERS, 'Content-Length': Buffer.byteLength(PAGE) });
      res.end(req.method === 'HEAD' ? undefined : PAGE);
      return;
    }
    if (path === '/api/snapshot') {
      allow(req, 'GET');
      sendJson(res, 200, withLog(latest ?? (await source.snapshot())));
      return;
    }
    if (path === '/api/events') {
      openEvents(req, res);
      return;
    }
    if (path === '/metrics') {
      allow(req, 'GET');
      let text = await source.metrics();
      if (text !== '' && !text.endsWith('\n')) text += '\n';
      text +=
        '# HELP spindle_observer_clients Live SSE clients of the observer.\n' +
        '# TYPE spindle_observer_clients gauge\n' +
        `spindle_observer_clients ${clients.size}\n` +
        '# HELP spindle_observer_actions_total Actions taken through the observer (failed ones included).\n' +
        '# TYPE spindle_observer_actions_total counter\n' +
        `spindle_observer_actions_total ${actionsTaken}\n`;
      res.writeHead(200, {
        'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Content-Length': Buffer.byteLength(text),
      });
      res.end(text);
      return;
    }
    if (path.startsWith('/api/actions/')) {
      await act(req, res, path.slice('/api/actions/'.length));
      return;
    }
    throw new HttpError(404, 'not_found', `no route ${JSON.stringify(path.slice(0, 100))}`);
  }

  const server: Server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) {
        // A refused body may still be arriving: close the connection after the answer.
        const headers = req.complete ? e.headers : { ...e.headers, Connection: 'close' };
        sendJson(res, e.status, { error: e.code, message: e.message }, headers);
        return;
      }
      rt.logger.warn(`observer: ${req.method} ${String(req.url).slice(0, 100)} failed: ${errorMessage(e)}`);
      sendJson(res, 500, { error: 'internal_error', message: 'the observer failed to answer; see the runtime log' });
    });
  });
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 64;
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => rt.logger.warn(`observer: server error: ${errorMessage(e)}`));

  const port = (server.address() as AddressInfo).port;
  const hostPart = settings.host.includes(':') && !settings.host.startsWith('[') ? `[${settings.host}]` : settings.host;
  const url = `http://${hostPart}:${port}/${settings.token === undefined ? '' : `?token=${encodeURIComponent(settings.token)}`}`;

  return {
    url,
    port,
    host: settings.host,
    stop(): Promise<void> {
      if (stopped !== undefined) return stopped;
      stopSampling();
      for (const c of clients) c.res.end();
      clients.clear();
      stopped = new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).finally(() => {
        try {
          source.close();
        } catch (e) {
          rt.logger.warn(`observer: closing the collector failed: ${errorMessage(e)}`);
        }
      });
      return stopped;
    },
  };
}
