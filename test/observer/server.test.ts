/**
 * The observer's HTTP server: option validation, access control (token, Host header), bounds,
 * routes, SSE (snapshot and lifecycle events, sampling only while a client watches), actions,
 * and stop(). With a fake ObserverSource, and with a real runtime through Observer.start.
 */
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior, Logger } from '../../src/index.js';
import { GenServer, InvalidArgumentError, Registry, Supervisor } from '../../src/index.js';
import { formatRef, makeRef } from '../../src/core/ref.js';
import type { ObservedEvent, ObserverSource, Snapshot } from '../../src/observer/model.js';
import { Observer, type RunningObserver } from '../../src/observer/observer.js';
import { MAX_SSE_CLIENTS, resolveObserverOptions, serveObserver } from '../../src/observer/server.js';
import { freshRuntime, waitFor } from '../../src/testing.js';

const TOKEN = 'correct-horse-battery-staple';

/** A fake source: counts snapshot calls, emits events on demand, resolves the refs it was given. */
function fakeSource(refs: Record<string, AnyRef> = {}) {
  const listeners = new Set<(e: ObservedEvent) => void>();
  const s = {
    snapshots: 0,
    closed: 0,
    failMetrics: false,
    listeners,
    emit(e: ObservedEvent) {
      for (const l of listeners) l(e);
    },
    async snapshot(): Promise<Omit<Snapshot, 'actions' | 'log'>> {
      s.snapshots++;
      return {
        nodes: [{ node: 'local', at: Date.now(), processes: [], truncated: false, trees: [], threads: [], peers: [] }],
      };
    },
    onEvent(l: (e: ObservedEvent) => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async metrics() {
      if (s.failMetrics) throw new Error('metrics exploded');
      return '# TYPE spindle_processes gauge\nspindle_processes 3\n';
    },
    resolve(ref: string) {
      return Object.hasOwn(refs, ref) ? refs[ref] : undefined;
    },
    close() {
      s.closed++;
    },
  };
  return s satisfies ObserverSource;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request; `path` is sent as is (no normalisation). */
function http(
  o: RunningObserver,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: o.port, path, method: init.method ?? 'GET', headers: init.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

function post(o: RunningObserver, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return http(o, path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

interface SseEvent {
  event: string;
  data: string;
}

/** An SSE client: collects events; `status` once the response head arrived. */
function sse(o: RunningObserver, path = '/api/events', headers: Record<string, string> = {}) {
  const events: SseEvent[] = [];
  const state = { status: 0, ended: false, body: '' };
  let buf = '';
  const req = request({ host: '127.0.0.1', port: o.port, path, headers, agent: false }, (res) => {
    state.status = res.statusCode ?? 0;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (state.status !== 200) {
        state.body += chunk;
        return;
      }
      buf += chunk;
      let i = buf.indexOf('\n\n');
      while (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data !== '') events.push({ event, data });
        i = buf.indexOf('\n\n');
      }
    });
    res.on('end', () => (state.ended = true));
    res.on('close', () => (state.ended = true));
  });
  req.on('error', () => (state.ended = true));
  req.end();
  return {
    events,
    state,
    close: () => req.destroy(),
    of: (event: string) => events.filter((e) => e.event === event),
  };
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    error: (m) => lines.push(`error: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    info: (m) => lines.push(`info: ${m}`),
  };
}

let dispose: (() => void) | undefined;
let observer: RunningObserver | undefined;
let rtOf: ReturnType<typeof freshRuntime>['rt'];

beforeEach(() => {
  const f = freshRuntime();
  rtOf = f.rt;
  dispose = f.dispose;
});
afterEach(async () => {
  await observer?.stop();
  observer = undefined;
  dispose?.();
  dispose = undefined;
});

async function serveFake(source: ObserverSource, options: Parameters<typeof resolveObserverOptions>[0] = {}): Promise<RunningObserver> {
  observer = await serveObserver(source, resolveObserverOptions({ runtime: rtOf, ...(options as object) }));
  return observer;
}

describe('options', () => {
  function problem(options: unknown): string {
    try {
      resolveObserverOptions(options);
    } catch (e) {
      expect(InvalidArgumentError.is(e)).toBe(true);
      return (e as InvalidArgumentError).argument;
    }
    return 'accepted';
  }

  it('fills in the defaults', () => {
    const s = resolveObserverOptions(undefined);
    expect(s).toMatchObject({ port: 0, host: '127.0.0.1', token: undefined, actions: false, intervalMs: 1000 });
  });

  it('rejects a bad options bag, port, host, flag or runtime', () => {
    expect(problem('x')).toBe('options passed to Observer.start');
    expect(problem([])).toBe('options passed to Observer.start');
    for (const port of [-1, 65536, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '8080', null]) expect(problem({ port })).toBe('port');
    expect(problem({ port: 65535 })).toBe('accepted');
    for (const host of ['', '  ', 42, 'a b', 'evil.com/x']) expect(problem({ host })).toBe('host');
    expect(problem({ actions: 'yes' })).toBe('actions');
    expect(problem({ runtime: {} })).toBe('runtime');
  });

  it('checks intervalMs as a duration bounded to 100..60000 (0, negative, NaN, 2^31, Infinity refused)', () => {
    for (const intervalMs of [0, -1, 99, Number.NaN, 2 ** 31, 60_001, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '1000', null]) {
      expect(problem({ intervalMs }), String(intervalMs)).toBe('intervalMs');
    }
    expect(problem({ intervalMs: 100 })).toBe('accepted');
    expect(problem({ intervalMs: 60_000 })).toBe('accepted');
    expect(problem({ intervalMs: 250.5 })).toBe('accepted');
  });

  it('requires a token of 16+ printable characters off loopback', () => {
    expect(problem({ host: '0.0.0.0' })).toBe('host');
    expect(problem({ host: '192.168.1.10' })).toBe('host');
    expect(problem({ host: '::' })).toBe('host');
    expect(problem({ host: '0.0.0.0', token: TOKEN })).toBe('accepted');
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST']) expect(problem({ host })).toBe('accepted');
    expect(problem({ token: 'short' })).toBe('token');
    expect(problem({ token: 1234567890123456 })).toBe('token');
    expect(problem({ token: 'has a space in it ok' })).toBe('token');
    expect(problem({ token: 'x'.repeat(2000) })).toBe('token');
  });

  it('Observer.start rejects with the same errors', async () => {
    await expect(Observer.start({ host: '0.0.0.0' })).rejects.toThrow(InvalidArgumentError);
    await expect(Observer.start({ intervalMs: 0 })).rejects.toThrow(/intervalMs/);
  });
});

describe('access', () => {
  it('with a token: 401 without it or with a wrong one; Bearer header or ?token= accepted', async () => {
    const o = await serveFake(fakeSource(), { token: TOKEN });
    expect(o.url).toBe(`http://127.0.0.1:${o.port}/?token=${TOKEN}`);
    for (const path of ['/', '/api/snapshot', '/metrics', '/api/events', '/nope']) {
      const r = await http(o, path);
      expect(r.status, path).toBe(401);
      expect(JSON.parse(r.body).error).toBe('unauthorized');
    }
    expect((await http(o, '/api/snapshot?token=wrong-token-of-some-length')).status).toBe(401);
    expect((await http(o, '/api/snapshot', { headers: { Authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await http(o, `/api/snapshot?token=${TOKEN}`)).status).toBe(200);
    expect((await http(o, '/api/snapshot', { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    // With a token, the Host header is not what protects it.
    expect((await http(o, `/api/snapshot?token=${TOKEN}`, { headers: { Host: 'observer.example.com' } })).status).toBe(200);
  });

  it('on loopback without a token: the Host header must be a loopback name (DNS rebinding)', async () => {
    const o = await serveFake(fakeSource());
    expect(o.url).toBe(`http://127.0.0.1:${o.port}/`);
    for (const host of [`127.0.0.1:${o.port}`, `localhost:${o.port}`, `[::1]:${o.port}`, 'localhost', '127.9.9.9']) {
      expect((await http(o, '/api/snapshot', { headers: { Host: host } })).status, host).toBe(200);
    }
    for (const host of ['evil.example.com', `evil.example.com:${o.port}`, '127.0.0.1.evil.com', 'localhost.evil.com:80', '[::2]:80']) {
      const r = await http(o, '/api/snapshot', { headers: { Host: host } });
      expect(r.status, host).toBe(403);
      expect(JSON.parse(r.body).error).toBe('forbidden_host');
    }
  });

  it('serves the page with security headers and no remote source', async () => {
    const o = await serveFake(fakeSource());
    const r = await http(o, '/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['cache-control']).toBe('no-store');
    const csp = String(r.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/https?:|\*|unsafe-inline|unsafe-eval/);
    expect(r.body).toContain('<title>Spindle Observer</title>');
    expect(r.body).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/);
  });
});

describe('routes and bounds', () => {
  it('answers snapshot JSON with the actions flag and log, metrics as Prometheus text', async () => {
    const o = await serveFake(fakeSource());
    const r = await http(o, '/api/snapshot');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const snap = JSON.parse(r.body) as Snapshot;
    expect(snap.actions).toBe(false);
    expect(snap.log).toEqual([]);
    expect(snap.nodes[0]?.node).toBe('local');
    const m = await http(o, '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(m.body).toContain('spindle_processes 3\n');
    expect(m.body).toContain('spindle_observer_clients 0\n');
  });

  it('404 for an unknown route, 405 for a wrong method, 500 when a handler throws', async () => {
    const src = fakeSource();
    const o = await serveFake(src);
    const nf = await http(o, '/nope');
    expect(nf.status).toBe(404);
    expect(JSON.parse(nf.body).error).toBe('not_found');
    const wm = await http(o, '/api/snapshot', { method: 'DELETE' });
    expect(wm.status).toBe(405);
    expect(wm.headers.allow).toBe('GET');
    expect((await http(o, '/api/actions/kill')).status).toBe(405);
    src.failMetrics = true;
    const err = await http(o, '/metrics');
    expect(err.status).toBe(500);
    expect(JSON.parse(err.body).error).toBe('internal_error');
    expect((await http(o, '/api/snapshot')).status).toBe(200);
  });

  it('refuses a long URL (414), a big or non-JSON body (413, 415), bad JSON (400)', async () => {
    const o = await serveFake(fakeSource(), { actions: true });
    expect((await http(o, `/api/snapshot?x=${'a'.repeat(2100)}`)).status).toBe(414);
    expect((await http(o, `/api/snapshot?x=${'a'.repeat(1900)}`)).status).toBe(200);
    expect((await post(o, '/api/actions/kill', { ref: 'x'.repeat(5000) })).status).toBe(413);
    const chunked = await http(o, '/api/actions/kill', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      body: JSON.stringify({ ref: 'y'.repeat(5000) }),
    });
    expect(chunked.status).toBe(413);
    const text = await http(o, '/api/actions/kill', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'ref' });
    expect(text.status).toBe(415);
    const bad = await http(o, '/api/actions/kill', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{ref' });
    expect(bad.status).toBe(400);
    expect((await post(o, '/api/actions/kill', [1])).status).toBe(400);
    expect((await post(o, '/api/actions/kill', { ref: 7 })).status).toBe(400);
  });

  it(`refuses SSE client number ${MAX_SSE_CLIENTS + 1} with 503`, async () => {
    const o = await serveFake(fakeSource());
    const clients = Array.from({ length: MAX_SSE_CLIENTS }, () => sse(o));
    await waitFor(() => clients.every((c) => c.of('snapshot').length > 0), 10_000, 'every client has a snapshot');
    const extra = sse(o);
    await waitFor(() => extra.state.status !== 0, 5000, 'the 17th answered');
    expect(extra.state.status).toBe(503);
    clients[0]?.close();
    await waitFor(() => clients[0]?.state.ended === true, 5000);
    // The slot is free again once the server saw the close.
    let again = sse(o);
    await waitFor(() => again.state.status !== 0, 5000);
    for (let i = 0; i < 50 && again.state.status === 503; i++) {
      again.close();
      await new Promise((r) => setTimeout(r, 20));
      again = sse(o);
      await waitFor(() => again.state.status !== 0, 5000);
    }
    expect(again.state.status).toBe(200);
    for (const c of [...clients, again, extra]) c.close();
  });
});

describe('live stream', () => {
  it('sends a snapshot at once, then every intervalMs, and each lifecycle event as it happens', async () => {
    const src = fakeSource();
    const o = await serveFake(src, { intervalMs: 100 });
    const c = sse(o);
    await waitFor(() => c.of('snapshot').length >= 1, 5000, 'first snapshot');
    const first = JSON.parse(c.of('snapshot')[0]?.data ?? '{}') as Snapshot;
    expect(first.actions).toBe(false);
    expect(first.nodes).toHaveLength(1);
    await waitFor(() => c.of('snapshot').length >= 3, 5000, 'periodic snapshots');
    const e: ObservedEvent = { at: Date.now(), node: 'local', event: 'crashed', ref: '#Ref<local/0/9>', detail: 'boom' };
    src.emit(e);
    await waitFor(() => c.of('lifecycle').length === 1, 2000, 'lifecycle event');
    expect(JSON.parse(c.of('lifecycle')[0]?.data ?? '{}')).toEqual(e);
    c.close();
  });

  it('samples only while a client is connected', async () => {
    const src = fakeSource();
    const o = await serveFake(src, { intervalMs: 100 });
    await new Promise((r) => setTimeout(r, 350));
    expect(src.snapshots).toBe(0);
    expect(src.listeners.size).toBe(0);
    const c = sse(o);
    await waitFor(() => src.snapshots >= 2, 5000, 'sampling');
    expect(src.listeners.size).toBe(1);
    c.close();
    await waitFor(() => src.listeners.size === 0, 5000, 'unsubscribed');
    const after = src.snapshots;
    await new Promise((r) => setTimeout(r, 350));
    expect(src.snapshots).toBe(after);
  });

  it('stop() is idempotent, ends live clients and closes the source', async () => {
    const src = fakeSource();
    const o = await serveFake(src);
    const c = sse(o);
    await waitFor(() => c.of('snapshot').length >= 1, 5000);
    const p1 = o.stop();
    const p2 = o.stop();
    expect(p2).toBe(p1);
    await p1;
    await o.stop();
    await waitFor(() => c.state.ended, 5000, 'client ended');
    expect(src.closed).toBe(1);
    await expect(http(o, '/api/snapshot')).rejects.toThrow();
  });
});

describe('actions with a fake source', () => {
  it('are refused with 403 when disabled, and logged as refused', async () => {
    const logger = recordingLogger();
    rtOf.logger = logger;
    const o = await serveFake(fakeSource());
    const r = await post(o, '/api/actions/kill', { ref: '#Ref<x/0/1>' });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'actions_disabled' });
    expect(logger.lines.some((l) => l.startsWith('warn: observer: refused action kill'))).toBe(true);
  });

  it('404 for a ref the source does not know and for an unknown action', async () => {
    const o = await serveFake(fakeSource(), { actions: true });
    const r = await post(o, '/api/actions/kill', { ref: '#Ref<nonode@nohost/0/1>' });
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).error).toBe('unknown_ref');
    expect((await post(o, '/api/actions/format_disk', { ref: 'x' })).status).toBe(404);
    expect((await post(o, '/api/actions/restart_child', { ref: 'x' })).status).toBe(400);
  });

  it('refuses an action from another origin (403)', async () => {
    const o = await serveFake(fakeSource(), { actions: true });
    const r = await post(o, '/api/actions/kill', { ref: 'x' }, { Origin: 'http://evil.example.com' });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).error).toBe('forbidden_origin');
    expect((await post(o, '/api/actions/kill', { ref: 'x' }, { Origin: `http://127.0.0.1:${o.port}` })).status).toBe(404);
  });
});

describe('with a real runtime (Observer.start and the collector)', () => {
  type P = { cast: 'crash'; call: ['ping', 'pong'] };
  const worker: GenServerBehavior<null, P> = {
    init: () => null,
    handleCast: () => {
      throw new Error('boom');
    },
    handleCall: (_m, s) => ['pong', s],
  };

  it('serves a snapshot of the running tree and metrics', async () => {
    const sup = await Supervisor.start({ children: [{ id: 'w', behavior: worker, options: { name: 'w' } }] });
    observer = await Observer.start({ runtime: rtOf });
    const snap = JSON.parse((await http(observer, '/api/snapshot')).body) as Snapshot;
    const local = snap.nodes[0];
    expect(local?.trees.some((t) => t.ref === formatRef(sup))).toBe(true);
    expect(local?.processes.some((p) => p.names.includes('w'))).toBe(true);
    const m = await http(observer, '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('kills, restarts a child and stops a tree when enabled; each is logged and in the snapshot log', async () => {
    const logger = recordingLogger();
    rtOf.logger = logger;
    const sup = await Supervisor.start({
      children: [
        { id: 'w', behavior: worker, options: { name: 'w' } },
        { id: 'inner', supervisor: { children: [{ id: 'leaf', behavior: worker, options: { name: 'leaf' } }] } },
      ],
    });
    observer = await Observer.start({ runtime: rtOf, actions: true });
    const o = observer;
    // Targets are known only once they appeared in a snapshot.
    await http(o, '/api/snapshot');
    const w1 = Registry.whereis('w') as AnyRef;
    const kill = await post(o, '/api/actions/kill', { ref: formatRef(w1) });
    expect(kill.status).toBe(200);
    await waitFor(
      () => {
        const w = Registry.whereis('w');
        return w !== undefined && w.id !== w1.id;
      },
      5000,
      'w restarted by its supervisor',
    );
    const w2 = Registry.whereis('w') as AnyRef;
    const restart = await post(o, '/api/actions/restart_child', { ref: formatRef(sup), id: 'w' });
    expect(restart.status).toBe(200);
    expect((Registry.whereis('w') as AnyRef).id).not.toBe(w2.id);
    expect(await GenServer.call('w', 'ping')).toBe('pong');
    const missing = await post(o, '/api/actions/restart_child', { ref: formatRef(sup), id: 'nope' });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).ok).toBe(false);
    const inner = (await Supervisor.getChildren(sup)).find((c) => c.id === 'inner')?.ref as AnyRef;
    await http(o, '/api/snapshot');
    const stop = await post(o, '/api/actions/stop_tree', { ref: formatRef(inner) });
    expect(stop.status).toBe(200);
    expect(Supervisor.isRunning(inner)).toBe(false);
    // A ref the observer never showed is refused, even if a process has it.
    const unseen = await post(o, '/api/actions/kill', { ref: formatRef(makeRef(rtOf.node, 0, 999_999)) });
    expect(unseen.status).toBe(404);
    const snap = JSON.parse((await http(o, '/api/snapshot')).body) as Snapshot;
    expect(snap.actions).toBe(true);
    expect(snap.log.map((r) => [r.action, r.ok])).toEqual([
      ['kill', true],
      ['restart_child', true],
      ['restart_child', false],
      ['stop_tree', true],
    ]);
    expect(snap.log[1]?.id).toBe('w');
    expect(logger.lines.filter((l) => l.startsWith('info: observer: kill'))).toHaveLength(1);
    expect(logger.lines.some((l) => l.startsWith('warn: observer: restart_child') && l.includes('failed'))).toBe(true);
    await Supervisor.stop(sup);
  });

  it('streams a crash as a lifecycle event', async () => {
    await Supervisor.start({ children: [{ id: 'w', behavior: worker, options: { name: 'w' } }] });
    observer = await Observer.start({ runtime: rtOf, intervalMs: 200 });
    const c = sse(observer);
    await waitFor(() => c.of('snapshot').length >= 1, 5000);
    const ref = formatRef(Registry.whereis('w') as AnyRef);
    GenServer.cast('w', 'crash');
    await waitFor(() => c.of('lifecycle').some((e) => (JSON.parse(e.data) as ObservedEvent).event === 'crashed'), 3000, 'crash event');
    const crash = c
      .of('lifecycle')
      .map((e) => JSON.parse(e.data) as ObservedEvent)
      .find((e) => e.event === 'crashed');
    expect(crash?.ref).toBe(ref);
    await waitFor(() => c.of('lifecycle').some((e) => (JSON.parse(e.data) as ObservedEvent).event === 'restarted'), 3000, 'restart event');
    c.close();
  });
});
