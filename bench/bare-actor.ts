/**
 * The raw in-thread actor floor the call, spawn, memory and restart scenarios compare against:
 * a mailbox (an array with a head index) drained in a loop in one microtask, with calls that
 * carry their reply function through the mailbox — what any actor must do at least, without
 * Spindle's process table, monitors, links, timeouts or checks. (cast-throughput.ts keeps its
 * own cast-only `BareActor`, the same loop.)
 *
 * `BareSupervisor` is the matching floor for restarts: an actor whose handler throws is
 * replaced by a fresh one under the same name, from the supervisor's own microtask.
 */

/** A call in the mailbox: the message and the function that takes the reply. */
class Call {
  constructor(
    readonly msg: unknown,
    readonly reply: (r: unknown) => void,
  ) {}
}

/** The default cast handler: keeps the state (one shared function, not one per actor). */
const keep = <S>(_m: unknown, s: S): S => s;

export class BareServer<S> {
  private q: unknown[] = [];
  private head = 0;
  private scheduled = false;
  /** The bound drain, made at the first send: an idle actor holds no closure. */
  private drainer: (() => void) | undefined = undefined;
  /** Set when a handler threw: the actor is dead and drops what it receives. */
  dead = false;
  constructor(
    public state: S,
    private readonly handleCall: (msg: unknown, state: S) => [unknown, S],
    private readonly handleCast: (msg: unknown, state: S) => S = keep,
    private readonly onCrash: ((e: unknown) => void) | undefined = undefined,
  ) {}

  cast(msg: unknown): void {
    this.send(msg);
  }

  call<R>(msg: unknown): Promise<R> {
    return new Promise((resolve) => this.send(new Call(msg, resolve as (r: unknown) => void)));
  }

  private send(m: unknown): void {
    if (this.dead) return;
    this.q.push(m);
    if (!this.scheduled) {
      this.scheduled = true;
      this.drainer ??= () => this.drain();
      queueMicrotask(this.drainer);
    }
  }

  private drain(): void {
    this.scheduled = false;
    const q = this.q;
    try {
      while (this.head < q.length) {
        const m = q[this.head];
        q[this.head++] = undefined;
        if (m instanceof Call) {
          const [r, s] = this.handleCall(m.msg, this.state);
          this.state = s;
          m.reply(r);
        } else this.state = this.handleCast(m, this.state);
      }
    } catch (e) {
      this.dead = true;
      this.q = [];
      this.head = 0;
      this.onCrash?.(e);
      return;
    }
    q.length = 0;
    this.head = 0;
  }
}

/** Restarts a crashed BareServer under its name, one microtask after the crash. */
export class BareSupervisor<S> {
  readonly names = new Map<string, BareServer<S>>();
  restarts = 0;
  constructor(
    private readonly init: () => S,
    private readonly handleCall: (msg: unknown, state: S) => [unknown, S],
    private readonly handleCast: (msg: unknown, state: S) => S,
  ) {}

  start(name: string): BareServer<S> {
    const a: BareServer<S> = new BareServer(this.init(), this.handleCall, this.handleCast, () =>
      queueMicrotask(() => {
        this.restarts++;
        this.start(name);
      }),
    );
    this.names.set(name, a);
    return a;
  }
}
