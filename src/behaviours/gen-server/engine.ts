/**
 * The private engine behind a GenServer: runs callbacks and interprets every result in one
 * place (OTP's `handle_common_reply`). A bad result is a crash with BadReturnValueError.
 * Synchronous callbacks never cost a microtask; async ones return the promise to the
 * process loop, which waits for it before the next message.
 */
import { BadReturnValueError, InvalidArgumentError } from '../../errors.js';
import type { ExitReason } from '../../core/exit-reason.js';
import type { Proc, Server } from '../../core/process.js';
import { CALL, CAST } from '../../core/process.js';
import type { From } from '../../core/runtime.js';
import { formatRef } from '../../core/ref.js';
import type { GenServerBehavior } from './behavior.js';
import type { Directive } from './result.js';
import { directiveKind, isDirective } from './result.js';

// biome-ignore lint/suspicious/noExplicitAny: the engine is protocol-agnostic.
type AnyBehavior = GenServerBehavior<any, any, any>;

function isThenable(v: unknown): v is Promise<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  return typeof v === 'object' && v !== null ? `an object (${Object.keys(v).slice(0, 3).join(', ')})` : `${typeof v} ${String(v)}`;
}

export class Engine implements Server {
  state: unknown;
  private inFrom: From | undefined;
  private inMsg: unknown;
  private deferredCalls: Map<From, unknown> | undefined;

  constructor(
    readonly proc: Proc,
    readonly behavior: AnyBehavior,
    readonly shutdownTimeoutMs: number,
  ) {}

  inflight(): { from: From; msg: unknown } | undefined {
    return this.inFrom === undefined ? undefined : { from: this.inFrom, msg: this.inMsg };
  }

  *deferred(): Iterable<[From, unknown]> {
    if (this.deferredCalls === undefined) return;
    const router = this.proc.rt.router;
    for (const [from, msg] of this.deferredCalls) if (!router.withdrawn(from)) yield [from, msg];
    this.deferredCalls = undefined;
  }

  handle(kind: number, msg: unknown, from: From | undefined): undefined | Promise<void> {
    const b = this.behavior;
    try {
      if (kind === CAST) {
        if (b.handleCast === undefined)
          throw new InvalidArgumentError('message', `${this.label()} received a cast but its behaviour has no handleCast`);
        const r = b.handleCast(msg as never, this.state);
        if (isThenable(r))
          return r.then(
            (v) => this.afterState(v, 'handleCast'),
            (e) => this.crash(e),
          );
        return this.afterState(r, 'handleCast');
      }
      if (kind === CALL) {
        const f = from as From;
        // A call whose caller already timed out is withdrawn, never handled.
        if (this.proc.rt.router.withdrawn(f)) return undefined;
        if (b.handleCall === undefined)
          throw new InvalidArgumentError('message', `${this.label()} received a call but its behaviour has no handleCall`);
        this.inFrom = f;
        this.inMsg = msg;
        const r = b.handleCall(msg, this.state, f);
        if (isThenable(r))
          return r.then(
            (v) => this.afterCall(v),
            (e) => this.crash(e),
          );
        return this.afterCall(r);
      }
      if (b.handleInfo === undefined) {
        // Elixir's default: unexpected info messages are logged and dropped.
        this.proc.rt.logger.warn(`${this.label()} received an info message but has no handleInfo; dropped`);
        return undefined;
      }
      const r = b.handleInfo(msg, this.state);
      if (isThenable(r))
        return r.then(
          (v) => this.afterState(v, 'handleInfo'),
          (e) => this.crash(e),
        );
      return this.afterState(r, 'handleInfo');
    } catch (e) {
      this.crash(e);
      return undefined;
    }
  }

  private afterCall(r: unknown): undefined | Promise<void> {
    const from = this.inFrom as From;
    const router = this.proc.rt.router;
    if (Array.isArray(r) && r.length === 2) {
      this.state = r[1];
      this.inFrom = undefined;
      this.inMsg = undefined;
      router.reply(from, r[0]);
      return undefined;
    }
    if (isDirective(r)) {
      const d = r as Directive<unknown>;
      switch (directiveKind(d)) {
        case 'reply': {
          const dr = d as Extract<Directive<unknown>, { reply: unknown; hasContinue: boolean }>;
          this.state = dr.state;
          this.inFrom = undefined;
          this.inMsg = undefined;
          router.reply(from, dr.reply);
          return dr.hasContinue ? this.runContinue(dr.continue) : undefined;
        }
        case 'noreply': {
          const dn = d as Extract<Directive<unknown>, { hasContinue: boolean }>;
          this.state = dn.state;
          this.defer(from, this.inMsg);
          this.inFrom = undefined;
          this.inMsg = undefined;
          return dn.hasContinue ? this.runContinue(dn.continue) : undefined;
        }
        case 'stop': {
          const ds = d as Extract<Directive<unknown>, { reason: ExitReason }>;
          this.state = ds.state;
          if (ds.hasReply) {
            this.inFrom = undefined;
            this.inMsg = undefined;
            router.reply(from, ds.reply);
          }
          this.proc.stop(ds.reason);
          return undefined;
        }
        default:
          break;
      }
    }
    this.crash(new BadReturnValueError('handleCall', '[reply, newState] or a Result directive', describe(r)));
    return undefined;
  }

  /** Interprets the result of handleCast / handleInfo / handleContinue / init-continue. */
  private afterState(r: unknown, callback: string): undefined | Promise<void> {
    if (!isDirective(r)) {
      this.state = r;
      return undefined;
    }
    const d = r as Directive<unknown>;
    switch (directiveKind(d)) {
      case 'continue':
      case 'noreply': {
        const dc = d as Extract<Directive<unknown>, { hasContinue: boolean }>;
        this.state = dc.state;
        return dc.hasContinue ? this.runContinue(dc.continue) : undefined;
      }
      case 'stop': {
        const ds = d as Extract<Directive<unknown>, { reason: ExitReason }>;
        this.state = ds.state;
        this.proc.stop(ds.reason);
        return undefined;
      }
      default:
        this.crash(new BadReturnValueError(callback, 'a new state or Result.noreply/continue/stop', 'Result.reply'));
        return undefined;
    }
  }

  /** Runs handleContinue before the next message. */
  runContinue(cont: unknown): undefined | Promise<void> {
    const b = this.behavior;
    const rt = this.proc.rt;
    const prev = rt.current;
    rt.current = this.proc;
    try {
      if (b.handleContinue === undefined)
        throw new InvalidArgumentError('result', `${this.label()} asked to continue but its behaviour has no handleContinue`);
      const r = b.handleContinue(cont, this.state);
      if (isThenable(r))
        return r.then(
          (v) => this.afterState(v, 'handleContinue'),
          (e) => this.crash(e),
        );
      return this.afterState(r, 'handleContinue');
    } catch (e) {
      this.crash(e);
      return undefined;
    } finally {
      rt.current = prev;
    }
  }

  /** Let it crash: terminate runs, then the process exits with `{ error }`. */
  crash(e: unknown): void {
    this.proc.stop({ error: e });
  }

  terminate(reason: ExitReason): undefined | Promise<void> {
    const t = this.behavior.terminate;
    if (t === undefined) return undefined;
    const rt = this.proc.rt;
    try {
      const r = t.call(this.behavior, reason, this.state);
      if (!isThenable(r)) return undefined;
      if (this.shutdownTimeoutMs === Number.POSITIVE_INFINITY) {
        return r.then(
          () => undefined,
          (e) => rt.logger.warn(`${this.label()} terminate threw: ${e instanceof Error ? e.message : String(e)}`),
        );
      }
      // Bounded: a terminate that hangs cannot hold the exit forever. Cut short, it is a kill
      // (reason 'killed', as when a supervisor's shutdown timeout elapses).
      return new Promise<void>((resolve) => {
        const timer = rt.clock.setTimeout(() => {
          rt.logger.warn(`${this.label()} terminate did not finish within ${this.shutdownTimeoutMs} ms; killing it`);
          this.proc.die('killed');
          resolve();
        }, this.shutdownTimeoutMs);
        r.then(
          () => {
            rt.clock.clearTimeout(timer);
            resolve();
          },
          (e) => {
            rt.clock.clearTimeout(timer);
            rt.logger.warn(`${this.label()} terminate threw: ${e instanceof Error ? e.message : String(e)}`);
            resolve();
          },
        );
      });
    } catch (e) {
      rt.logger.warn(`${this.label()} terminate threw: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  private defer(from: From, msg: unknown): void {
    const m = (this.deferredCalls ??= new Map());
    m.set(from, msg);
    if (m.size > 64) {
      const router = this.proc.rt.router;
      for (const f of m.keys()) if (router.withdrawn(f)) m.delete(f);
    }
  }

  label(): string {
    const p = this.proc;
    return p.name === undefined ? formatRef(p.ref) : `${formatRef(p.ref)} (${p.name})`;
  }
}
