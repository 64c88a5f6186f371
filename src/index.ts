/** Spindle's public API. This file only re-exports. */
export { GenServer } from './behaviours/gen-server/gen-server.js';
export type {
  StartOptions,
  CallOptions,
  TimerRef,
  ServerRef,
} from './behaviours/gen-server/gen-server.js';
export type {
  GenServerBehavior,
  ExitMessage,
  DownMessage,
  SystemMessage,
  MaybePromise,
} from './behaviours/gen-server/behavior.js';
export {
  isExitMessage,
  isDownMessage,
} from './behaviours/gen-server/behavior.js';
export { Result } from './behaviours/gen-server/result.js';
export type { Directive } from './behaviours/gen-server/result.js';
export { Supervisor } from './behaviours/supervisor/supervisor.js';
export type { SupAddress, SupervisorRef } from './behaviours/supervisor/supervisor.js';
export type { SupProtocol, SupReply } from './behaviours/supervisor/server.js';
export type {
  ChildSpec,
  SupervisorOptions,
  Strategy,
  RestartType,
  ThreadSpec,
} from './behaviours/supervisor/spec.js';
export type { ChildInfo, ChildCounts, IntensityStatus } from './behaviours/supervisor/server.js';
export { Registry, KeyedRegistry } from './behaviours/registry.js';
export type {
  RegistryEntry,
  KeyedEntry,
  KeyedRegistryOptions,
  ViaName,
} from './behaviours/registry.js';
export { Agent } from './behaviours/agent.js';
export type { AgentRef, AgentStartOptions, AgentProtocol } from './behaviours/agent.js';
export { Process } from './behaviours/process.js';
export type { ProcessInfo, ThreadStats } from './core/process-info.js';
export type { SupervisionNode } from './behaviours/introspection.js';
export type { OverflowPolicy } from './core/process.js';
export type { Ref, AnyRef, MonitorRef } from './core/ref.js';
export { sameRef, formatRef, isRef } from './core/ref.js';
export type {
  Protocol,
  CallMsg,
  CastMsg,
  InfoMsg,
  ReplyOf,
  AnyReply,
  Name,
} from './core/protocol.js';
export type { Transferable } from './core/router.js';
export type { ExitReason } from './core/exit-reason.js';
export { isNormalExit, isErrorExit, formatReason } from './core/exit-reason.js';
export type { From, RemoteFrom, RuntimeOptions } from './core/runtime.js';
export {
  Runtime,
  currentRuntime,
  withRuntime,
  setDefaultRuntime,
} from './core/runtime.js';
export type { Clock, TimerHandle } from './core/clock.js';
export { realClock } from './core/clock.js';
export type {
  Logger,
  LifecycleEvent,
  LifecycleListener,
} from './core/events.js';
export { stderrLogger, silentLogger } from './core/events.js';
export * from './errors.js';

import type { LifecycleListener } from './core/events.js';
import { currentRuntime as rtNow } from './core/runtime.js';
import { checkFunction } from './core/validate.js';

/**
 * Subscribes to lifecycle events (started, crashed, terminated, restarted) of the current
 * runtime, including those of its thread subtrees; returns the unsubscribe function. Throws
 * `InvalidArgumentError` when `listener` is not a function. OTP's nearest: SASL progress and
 * crash reports, or a `logger` handler.
 */
export function onLifecycle(listener: LifecycleListener): () => void {
  checkFunction('listener passed to onLifecycle', listener);
  return rtNow().onLifecycle(listener);
}

// Worker threads: importing the package installs the threads layer.
import './threads/install.js';
export { Threads } from './threads/thread-host.js';
export type { ThreadInfo } from './threads/thread-host.js';
export type { ChannelStats } from './threads/links.js';
export { Application } from './threads/application.js';
export type { RunningApplication, ApplicationOptions } from './threads/application.js';
export type { SendOptions } from './behaviours/gen-server/gen-server.js';
export { Task, TaskPool } from './threads/task.js';
export type { TaskPoolOptions, TaskRunOptions, TaskCloseOptions, TaskPoolStats, JobFn } from './threads/task.js';
export { TaskHandle } from './behaviours/task-process.js';
export type {
  TaskResult,
  TaskStreamResult,
  TaskFn,
  TaskSupervisorRef,
  TaskSupervisorOptions,
  AsyncStreamOptions,
} from './behaviours/task-process.js';
export { comlinkChild, comlinkProxy, type ComlinkChildOptions, type ComlinkWorkerOptions } from './threads/comlink-child.js';

// Distribution: nodes over TCP.
export { Cluster } from './cluster/cluster.js';
export type { ClusterOptions, NodeInfo, ClusterStatus } from './cluster/cluster.js';
export type { TlsOptions } from './cluster/session.js';
export { BehaviorRegistry } from './cluster/behavior-registry.js';
export type { AllowedThread } from './cluster/behavior-registry.js';
export type { RemoteName, StartRemoteOptions } from './behaviours/gen-server/remote.js';
export { GlobalRegistry } from './cluster/global-registry.js';
export type { GlobalName, GlobalRegistryEvent } from './cluster/global-registry.js';
export type { ClusterBackend, BackendContext, GlobalNameEvent } from './cluster/backend.js';
export type { NameResolver } from './cluster/embedded-names.js';
export { DistributedSupervisor } from './cluster/distributed-supervisor.js';
export type {
  DistributedSupervisorOptions,
  DistributedSupervisorRef,
  DistributedChildSpec,
  DistributedChildInfo,
  NodeSelector,
  SelectorFn,
} from './cluster/distributed-supervisor.js';

// The observer: a web page, a JSON API and Prometheus metrics over the running node.
export { Observer } from './observer/observer.js';
export type { ObserverOptions, RunningObserver } from './observer/observer.js';
export type {
  Snapshot,
  NodeView,
  ObservedProcess,
  ObservedTreeNode,
  ObservedThread,
  ObservedPeer,
  ObservedEvent,
  NodeEvent,
  IntensityBudget,
  ActionRecord,
} from './observer/model.js';
