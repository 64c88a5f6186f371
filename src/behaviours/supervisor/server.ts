/**
 * The supervisor is a GenServer (as in OTP's supervisor.erl): it traps exits, links to every
 * child, and reacts to each child's EXIT message — by signal, never by polling. Restarts
 * are counted against the intensity window; exceeding it stops the children in reverse order
 * and exits the supervisor, so its own parent handles it (escalation).
 */
import {
  ACROSS_NODES,
  ChildNotFoundError,
  ChildRunningError,
  ChildStartError,
  DuplicateChildError,
  InvalidArgumentError,
  serializeError,
} from '../../errors.js';
import type { ExitReason } from '../../core/exit-reason.js';
import { formatReason, isNormalExit } from '../../core/exit-reason.js';
import type { AnyRef } from '../../core/ref.js';
import { formatRef, isRef, sameRef } from '../../core/ref.js';
import type { From, Runtime } from '../../core/runtime.js';
import { currentRuntime, LocalFrom, layers, withRuntime } from '../../core/runtime.js';
import { markKind } from '../../core/process-info.js';
import { describeValue } from '../../core/validate.js';
import type { ExitMessage, GenServerBehavior } from '../gen-server/behavior.js';
import { isExitMessage } from '../gen-server/behavior.js';
import { GenServer } from '../gen-server/gen-server.js';
import { Result } from '../gen-server/result.js';
import type { ChildSpec, RestartType, Strategy, SupervisorOptions } from './spec.js';
import { childType, shutdownOf, validateOptions, validateSpec } from './spec.js';

/** A child as reported by `Supervisor.getChildren`. */
export interface ChildInfo {
  /** The child's id from its spec; for `simple_one_for_one` children, a generated one. */
  readonly id: string;
  /** Undefined while the child is not running. */
  readonly ref: AnyRef | undefined;
  /** The child's restart type (default `'permanent'`). */
  readonly restart: RestartType;
  /** `'supervisor'` for nested supervisors and thread subtrees, else `'worker'` (or as the spec says). */
  readonly type: 'worker' | 'supervisor';
  /** How many times the supervisor restarted it. */
  readonly restartCount: number;
}

/** Counts as reported by `Supervisor.countChildren`. */
export interface ChildCounts {
  /** Child specs the supervisor holds, running or not. */
  readonly specs: number;
  /** Children that are running. */
  readonly active: number;
  /** Children of type `'supervisor'` (running or not). */
  readonly supervisors: number;
  /** Children of type `'worker'` (running or not). */
  readonly workers: number;
}

/** A supervisor's restart intensity and what is left of it now, as `Supervisor.intensity` reports it. */
export interface IntensityStatus {
  /** `restartIntensity.maxRestarts`: restarts allowed inside the window. */
  readonly maxRestarts: number;
  /** `restartIntensity.withinMs`: the window, in ms. */
  readonly withinMs: number;
  /** Restarts made inside the window ending now. */
  readonly recent: number;
  /** Restarts it may still make inside the window before it gives up (`maxRestarts - recent`, at least 0). */
  readonly remaining: number;
}

interface Child {
  spec: ChildSpec;
  ref: AnyRef | undefined;
  restartCount: number;
  /** Arguments for simple_one_for_one children. */
  args: unknown;
}

export interface SupState {
  readonly rt: Runtime;
  readonly self: AnyRef;
  readonly label: string;
  readonly strategy: Strategy;
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly autoShutdown: 'never' | 'any_significant' | 'all_significant';
  readonly template: ChildSpec | undefined;
  children: Child[];
  restarts: number[];
  nextDynamic: number;
}

/** Hook through which thread children are started (installed by the threads layer). */
export type ThreadStarter = (spec: ChildSpec, parent: AnyRef) => Promise<AnyRef>;

export type SupCall =
  | { op: 'start_child'; spec?: ChildSpec; args?: unknown }
  | { op: 'terminate_child'; id: string | AnyRef }
  | { op: 'restart_child'; id: string }
  | { op: 'delete_child'; id: string }
  | { op: 'which_children' }
  | { op: 'which_child'; id: string | AnyRef }
  | { op: 'count_children' }
  | { op: 'intensity' };

/**
 * A supervisor's reply to a request of {@link SupProtocol}. Replies carry errors as data: a
 * bad request fails the caller, never the supervisor.
 */
export type SupReply<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * The calls a supervisor process answers (what {@link SupervisorRef} carries). Use the
 * `Supervisor` functions rather than calling it directly; its shape may change between versions.
 */
export type SupProtocol = {
  call:
    | [{ op: 'start_child'; spec?: ChildSpec; args?: unknown }, SupReply<AnyRef>]
    | [{ op: 'terminate_child'; id: string | AnyRef }, SupReply<true>]
    | [{ op: 'restart_child'; id: string }, SupReply<AnyRef>]
    | [{ op: 'delete_child'; id: string }, SupReply<true>]
    | [{ op: 'which_children' }, SupReply<ChildInfo[]>]
    | [{ op: 'which_child'; id: string | AnyRef }, SupReply<ChildInfo>]
    | [{ op: 'count_children' }, SupReply<ChildCounts>]
    | [{ op: 'intensity' }, SupReply<IntensityStatus>];
};

type Normalised = SupervisorOptions & {
  strategy: Strategy;
  restartIntensity: { maxRestarts: number; withinMs: number };
  autoShutdown: 'never' | 'any_significant' | 'all_significant';
  children: ChildSpec[];
};

/** Starts one child, linked to the supervisor with the supervisor as parent. */
async function startOne(s: SupState, spec: ChildSpec, args: unknown): Promise<AnyRef> {
  const parent = s.self;
  // Restarts run after an await, outside any drain: start children in the supervisor's own
  // runtime, not whichever one is the thread's default. A simple_one_for_one child's args
  // (from startChild) become its init argument.
  const behavior = spec.behavior;
  if (behavior !== undefined)
    return withRuntime(s.rt, () => GenServer.start(behavior, { ...spec.options, ...(args === undefined ? {} : { args }), link: parent }));
  const sup = spec.supervisor;
  if (sup !== undefined) return withRuntime(s.rt, () => startSupervisor(sup, parent));
  if (spec.thread !== undefined) {
    const starter = layers.threadStarter;
    if (starter === undefined)
      throw new InvalidArgumentError(
        `child spec ${JSON.stringify(spec.id)}`,
        'thread children need the threads layer (import from "spindle")',
      );
    return starter(s.rt, spec, parent);
  }
  const ref = await withRuntime(s.rt, () => (spec.start as (a: unknown) => Promise<AnyRef>)(args));
  if (!isRef(ref)) throw new InvalidArgumentError(`start of child ${JSON.stringify(spec.id)}`, 'expected it to resolve with a ref');
  // A custom start cannot link atomically: link now; a child already gone yields EXIT noproc.
  const rt = s.rt;
  if (rt.router.isLocal(ref)) {
    const p = rt.procs.get(ref.id);
    if (p !== undefined) p.parent = parent;
  }
  rt.router.link(parent, ref);
  return ref;
}

async function startChildRecord(s: SupState, c: Child): Promise<AnyRef> {
  try {
    c.ref = await startOne(s, c.spec, c.args);
    return c.ref;
  } catch (e) {
    c.ref = undefined;
    throw new ChildStartError(c.spec.id, s.label, e);
  }
}

/** Resolves when `ref` has exited (any distance). */
function exited(rt: Runtime, ref: AnyRef): Promise<ExitReason> {
  return new Promise((resolve) => {
    rt.watch(ref, (_r, reason) => resolve(reason));
  });
}

/** Stops one child: 'shutdown' signal from the parent, then a kill after its shutdown timeout. */
async function stopChild(s: SupState, c: Child): Promise<void> {
  const ref = c.ref;
  if (ref === undefined) return;
  c.ref = undefined;
  const rt = s.rt;
  // As OTP: unlink, watch, then signal, so the child's exit does not come back as an EXIT.
  rt.router.unlink(s.self, ref);
  const done = exited(rt, ref);
  const timeout = shutdownOf(c.spec);
  if (timeout === 'brutal_kill') {
    rt.router.exitSignal(ref, s.self, 'killed', false);
    await done;
    return;
  }
  rt.router.exitSignal(ref, s.self, 'shutdown', false);
  if (timeout === Number.POSITIVE_INFINITY) {
    await done;
    return;
  }
  let timer: unknown;
  const killed = new Promise<void>((resolve) => {
    timer = rt.clock.setTimeout(() => {
      rt.logger.warn(`${s.label}: child ${JSON.stringify(c.spec.id)} did not stop within ${timeout} ms; killing it`);
      rt.router.exitSignal(ref, s.self, 'killed', false);
      resolve();
    }, timeout);
  });
  await Promise.race([done, killed]);
  rt.clock.clearTimeout(timer);
  await done;
}

async function stopAll(s: SupState, children: Child[]): Promise<void> {
  for (let i = children.length - 1; i >= 0; i--) await stopChild(s, children[i] as Child);
}

function restartType(c: Child): RestartType {
  return c.spec.restart ?? 'permanent';
}

/** Records a restart; true when the intensity is exceeded. */
function intensityExceeded(s: SupState): boolean {
  const now = s.rt.clock.now();
  s.restarts.push(now);
  s.restarts = s.restarts.filter((t) => now - t < s.withinMs);
  return s.restarts.length > s.maxRestarts;
}

/** The intensity budget now; reads the restart times without pruning them (no state changes). */
function intensity(s: SupState): IntensityStatus {
  const now = s.rt.clock.now();
  let recent = 0;
  for (const t of s.restarts) if (now - t < s.withinMs) recent++;
  return { maxRestarts: s.maxRestarts, withinMs: s.withinMs, recent, remaining: Math.max(0, s.maxRestarts - recent) };
}

function info(c: Child): ChildInfo {
  return {
    id: c.spec.id,
    ref: c.ref,
    restart: restartType(c),
    type: childType(c.spec),
    restartCount: c.restartCount,
  };
}

function findChild(s: SupState, id: string | AnyRef): Child {
  // Requests can also arrive by a plain GenServer.call: the id is checked here too.
  if (typeof id !== 'string' && !isRef(id)) throw new InvalidArgumentError('child', `expected a child id or ref, got ${describeValue(id)}`);
  const c =
    typeof id === 'string' ? s.children.find((x) => x.spec.id === id) : s.children.find((x) => x.ref !== undefined && sameRef(x.ref, id));
  if (c === undefined) throw new ChildNotFoundError(typeof id === 'string' ? id : formatRef(id), s.label);
  return c;
}

/** Handles one child's exit: restart per strategy, or give up. Returns a stop reason to exit the supervisor. */
async function onChildExit(s: SupState, c: Child, reason: ExitReason): Promise<ExitReason | undefined> {
  c.ref = undefined;
  const type = restartType(c);
  const restart = type === 'permanent' || (type === 'transient' && !isNormalExit(reason));
  if (!restart) {
    if (type === 'temporary' || s.strategy === 'simple_one_for_one') s.children = s.children.filter((x) => x !== c);
    if (c.spec.significant === true) {
      if (s.autoShutdown === 'any_significant') return 'shutdown';
      if (s.autoShutdown === 'all_significant' && !s.children.some((x) => x.spec.significant === true && x.ref !== undefined))
        return 'shutdown';
    }
    return undefined;
  }
  s.rt.logger.info(`${s.label}: child ${JSON.stringify(c.spec.id)} exited with ${formatReason(reason)}; restarting (${s.strategy})`);
  if (intensityExceeded(s)) {
    s.rt.logger.error(`${s.label}: more than ${s.maxRestarts} restarts within ${s.withinMs} ms; shutting down`);
    return { shutdown: 'reached_max_restart_intensity' };
  }
  // Which children restart: the one (one_for_one), all (one_for_all), or it and the later ones.
  const idx = s.children.indexOf(c);
  const group = s.strategy === 'one_for_all' ? s.children.slice() : s.strategy === 'rest_for_one' ? s.children.slice(idx) : [c];
  const siblings = group.filter((x) => x !== c);
  await stopAll(s, siblings);
  // As OTP: temporary siblings stopped for the restart are dropped, never restarted.
  s.children = s.children.filter((x) => !(siblings.includes(x) && restartType(x) === 'temporary'));
  for (const x of group) {
    if (!s.children.includes(x)) continue;
    try {
      const ref = await startChildRecord(s, x);
      x.restartCount++;
      const rt = s.rt;
      if (rt.events.active)
        rt.events.emit(
          {
            type: 'restarted',
            supervisor: s.self,
            childId: x.spec.id,
            ref,
            restartCount: x.restartCount,
          },
          rt.logger,
        );
    } catch (e) {
      // A failed restart counts as another exit of that child.
      s.rt.logger.error(`${s.label}: restart of ${JSON.stringify(x.spec.id)} failed: ${e instanceof Error ? e.message : String(e)}`);
      return onChildExit(s, x, { error: e });
    }
  }
  return undefined;
}

/** True when the request came from another node (not this thread, nor another thread of this node). */
function fromOtherNode(from: From | undefined): boolean {
  return from !== undefined && !(from instanceof LocalFrom) && from.node !== currentRuntime().node;
}

/** Serves one supervisor request; throws typed errors that go back to the caller. */
async function request(s: SupState, msg: SupCall, from?: From): Promise<unknown> {
  if (typeof msg !== 'object' || msg === null)
    throw new InvalidArgumentError('supervisor request', `expected { op }, got ${describeValue(msg)}`);
  switch (msg.op) {
    case 'start_child': {
      if (s.strategy === 'simple_one_for_one') {
        // As OTP: a simple_one_for_one supervisor takes arguments for its template, never a spec.
        if (msg.spec !== undefined)
          throw new InvalidArgumentError('child spec', 'a simple_one_for_one supervisor starts only its template: pass the arguments');
        const spec = {
          ...(s.template as ChildSpec),
          id: `${(s.template as ChildSpec).id}#${s.nextDynamic++}`,
        };
        const c: Child = {
          spec,
          ref: undefined,
          restartCount: 0,
          args: msg.args,
        };
        const ref = await startChildRecord(s, c);
        s.children.push(c);
        return ref;
      }
      // Another node names what to start, never code: a child spec is code here (a `thread`
      // spec names a module to import), so it is refused, as anything outside the
      // BehaviorRegistry allow-list is (start a registered behaviour with startRemote, or give
      // a simple_one_for_one supervisor's template its arguments).
      if (fromOtherNode(from))
        throw new InvalidArgumentError(
          'child spec',
          'a child spec from another node is refused: start a behaviour this node registered (GenServer.startRemote), or a simple_one_for_one template with arguments',
        );
      const spec = msg.spec as ChildSpec;
      validateSpec(spec, s.autoShutdown);
      if (s.children.some((x) => x.spec.id === spec.id)) throw new DuplicateChildError(spec.id, s.label);
      const c: Child = {
        spec,
        ref: undefined,
        restartCount: 0,
        args: undefined,
      };
      const ref = await startChildRecord(s, c);
      s.children.push(c);
      return ref;
    }
    case 'terminate_child': {
      const c = findChild(s, msg.id);
      await stopChild(s, c);
      if (s.strategy === 'simple_one_for_one' || restartType(c) === 'temporary') s.children = s.children.filter((x) => x !== c);
      return true;
    }
    case 'restart_child': {
      const c = findChild(s, msg.id);
      if (c.ref !== undefined) throw new ChildRunningError(c.spec.id, s.label);
      const ref = await startChildRecord(s, c);
      return ref;
    }
    case 'delete_child': {
      const c = findChild(s, msg.id);
      if (c.ref !== undefined) throw new ChildRunningError(c.spec.id, s.label);
      s.children = s.children.filter((x) => x !== c);
      return true;
    }
    case 'which_children':
      return s.children.map(info);
    case 'which_child':
      return info(findChild(s, msg.id));
    case 'count_children': {
      const counts = {
        specs: s.children.length,
        active: 0,
        supervisors: 0,
        workers: 0,
      };
      for (const c of s.children) {
        if (c.ref !== undefined) counts.active++;
        if (childType(c.spec) === 'supervisor') counts.supervisors++;
        else counts.workers++;
      }
      return counts;
    }
    case 'intensity':
      return intensity(s);
    default:
      throw new InvalidArgumentError('supervisor request', `unknown op: ${describeValue((msg as { op?: unknown }).op)}`);
  }
}

/** A supervisor's behaviour (marked as one, for `ProcessInfo.kind`). */
export function supervisorBehavior(): GenServerBehavior<SupState, SupProtocol, Normalised> {
  const behavior: GenServerBehavior<SupState, SupProtocol, Normalised> = {
    async init(o) {
      const rt = currentRuntime();
      const self = GenServer.self();
      const s: SupState = {
        rt,
        self,
        label: o.name === undefined ? `supervisor ${formatRef(self)}` : `supervisor ${formatRef(self)} (${o.name})`,
        strategy: o.strategy,
        maxRestarts: o.restartIntensity.maxRestarts,
        withinMs: o.restartIntensity.withinMs,
        autoShutdown: o.autoShutdown,
        template: o.template,
        children: o.children.map((spec) => ({
          spec,
          ref: undefined,
          restartCount: 0,
          args: undefined,
        })),
        restarts: [],
        nextDynamic: 1,
      };
      const started: Child[] = [];
      for (const c of s.children) {
        try {
          await startChildRecord(s, c);
          started.push(c);
        } catch (e) {
          await stopAll(s, started);
          throw e;
        }
      }
      return s;
    },

    async handleCall(msg, s, from) {
      try {
        return [{ ok: true, value: (await request(s, msg, from)) as ChildCounts }, s];
      } catch (error) {
        // A caller in another thread or node gets the error in wire form, rebuilt there with
        // its class and code (as a call's own error is); across nodes without stacks or paths.
        if (from instanceof LocalFrom) return [{ ok: false, error }, s];
        return [{ ok: false, error: serializeError(error, from.node === currentRuntime().node ? undefined : ACROSS_NODES) }, s];
      }
    },

    async handleInfo(msg, s) {
      if (!isExitMessage(msg)) return s;
      const m = msg as ExitMessage;
      const c = s.children.find((x) => x.ref !== undefined && sameRef(x.ref, m.from));
      // EXITs from children we stopped on purpose (or from strangers) are ignored.
      if (c === undefined) return s;
      const stop = await onChildExit(s, c, m.reason);
      if (stop !== undefined) return Result.stop(stop, s);
      return s;
    },

    async terminate(_reason, s) {
      await stopAll(s, s.children);
    },
  };
  return markKind(behavior, 'supervisor');
}

/** Starts a supervisor, optionally linked to a parent. Rejects with the ChildStartError of the first child that failed. */
export async function startSupervisor(options: SupervisorOptions, link?: AnyRef): Promise<AnyRef> {
  const o = validateOptions(options) as Normalised;
  try {
    return await GenServer.start(supervisorBehavior(), {
      args: o,
      trapExit: true,
      initTimeout: Number.POSITIVE_INFINITY,
      shutdownTimeout: Number.POSITIVE_INFINITY,
      ...(o.name === undefined ? {} : { name: o.name }),
      ...(link === undefined ? {} : { link }),
    });
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause;
    if (ChildStartError.is(cause)) throw cause;
    throw e;
  }
}
