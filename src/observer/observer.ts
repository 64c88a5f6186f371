/**
 * The observer: Spindle's answer to Erlang's `:observer` and Phoenix LiveDashboard. One call
 * serves, over HTTP, a JSON API, Prometheus metrics and a live web page that shows every node's
 * supervision trees, threads, peers and processes. Sampling runs only while a page (or another
 * SSE client) watches: otherwise the observer is an idle listening socket.
 *
 * Security: it listens on loopback by default; any other address needs a token. Actions
 * (kill a process, restart a child, stop a tree) are off unless asked for, and each is logged.
 */
import type { Runtime } from '../core/runtime.js';
import { createCollector } from './collect.js';
import { resolveObserverOptions, serveObserver } from './server.js';

/** Options of {@link Observer.start}. Every field is optional. */
export interface ObserverOptions {
  /** Port to listen on: an integer 0..65535; default 0 (a free port, see {@link RunningObserver.port}). */
  port?: number;
  /**
   * Address to listen on; default `'127.0.0.1'`. Any address other than a loopback one
   * (`127.x.x.x`, `::1`, `localhost`) requires a {@link ObserverOptions.token}.
   */
  host?: string;
  /**
   * A secret of at least 16 printable ASCII characters (no spaces). When set, every request
   * must carry it, as `Authorization: Bearer <token>` or `?token=<token>`.
   */
  token?: string;
  /** Allow the page and the API to kill processes, restart children and stop trees; default false. */
  actions?: boolean;
  /** How often live clients get a fresh snapshot, in ms: 100..60000, default 1000. */
  intervalMs?: number;
  /** The runtime to observe; default the current runtime. */
  runtime?: Runtime;
}

/** A started observer. */
export interface RunningObserver {
  /** The page's address, `http://host:port/` (with `?token=…` when a token is set). */
  readonly url: string;
  /** The port it listens on (the one chosen when `port` was 0). */
  readonly port: number;
  /** The address it listens on. */
  readonly host: string;
  /** Closes live clients, the listener and the collector. Idempotent: later calls return the same promise. */
  stop(): Promise<void>;
}

/**
 * Starts an observer over `options.runtime` (default the current runtime) and resolves once
 * it listens. Throws `InvalidArgumentError` (synchronously, as a rejection) naming the first
 * bad option: a port outside 0..65535, an empty host, a token shorter than 16 characters, a
 * non-loopback host without a token, an `intervalMs` outside 100..60000 (NaN and Infinity
 * included). Rejects with the listener's error when it cannot bind (`EADDRINUSE`, …).
 * OTP: `observer:start/0`, served over HTTP instead of wxWidgets.
 */
async function start(options?: ObserverOptions): Promise<RunningObserver> {
  const settings = resolveObserverOptions(options);
  const source = createCollector(settings.runtime);
  try {
    return await serveObserver(source, settings);
  } catch (e) {
    source.close();
    throw e;
  }
}

/** The observer: an HTTP/JSON API and a live page over a runtime (and its cluster). */
export const Observer = { start } as const;
