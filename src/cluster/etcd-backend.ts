/**
 * The etcd backend of a cluster (`spindle/etcd`, docs/concepts/global-registry.md): names,
 * membership and claims live in etcd under one key prefix, bound to this node's lease.
 *
 * Keys (all under `prefix`, default `/spindle`):
 * - `nodes/<shortId>` = the node's long id, bound to its lease: membership. Every node
 *   watches `nodes/` and asks its cluster to dial each other node it sees.
 * - `names/<name>` = `{"node","thread","id"}` of the holder, bound to the holder node's lease.
 *   Registration is a transaction "create if absent" (createRevision == 0), so a name is never
 *   held twice; a lost lease (node dead, or cut off from etcd past the TTL) releases it.
 * - `claims/<key>` = the owner ref, the same way: for DistributedSupervisor's child claims.
 *
 * Every node keeps a replica of the prefix, fed by one watch (and by a full read whenever the
 * watch breaks), so `whereis` and `names()` answer synchronously. What is read from etcd is
 * hostile input: values are size-bounded, parsed in a try and shape-checked; bad ones are
 * logged and ignored.
 *
 * A name is bound to the lease of the node that registered it, which also watches the process
 * and deletes the key when it exits (a transaction comparing the value, so a name that moved
 * on is left alone). etcd records no reason with a delete: the registering node reports
 * `exited` or `unregistered`, a delete in the same revision as the holder lease's node key is
 * `node_down` everywhere, and any other delete reads as `unregistered` on the other nodes.
 *
 * Every etcd call has a deadline (default 1 s): without one the client hung about 7 s when
 * the etcd leader died. A public call retries once after a failed attempt, so it settles
 * within about two deadlines; the register transaction is idempotent for its own ref, so a
 * retry after a timed-out attempt that did commit still succeeds.
 *
 * Lease loss: the lease is kept alive by one keepalive every TTL/3, and every 250 ms after a
 * round that failed, until one is confirmed again. When no keepalive sent in
 * the last TTL was confirmed, or etcd says the lease is gone, this node treats the lease as
 * lost (its names may already be gone in etcd): it drops its own names from its replica,
 * emits `unregistered` with reason `node_down`, and grants a new lease and re-puts its node key
 * as soon as etcd answers. Names are NOT registered again: their processes may have been
 * replaced meanwhile; re-registering is the caller's decision (a supervisor restart does it).
 */
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { checkInteger, checkOptions, describeValue, nameProblem } from '../core/validate.js';
import { type AnyRef, formatRef, isRef, makeRef } from '../core/ref.js';
import { AlreadyRegisteredError, CallTimeoutError, InvalidArgumentError, RuntimeClosedError } from '../errors.js';
import type { BackendContext, ClusterBackend, GlobalNameEvent } from './backend.js';
import { shortNodeId, tryParseNodeId } from './node-id.js';

/** Options of `etcd(options)` (`spindle/etcd`). */
export interface EtcdBackendOptions {
  /** etcd client endpoints: `'http://127.0.0.1:2379'` or `'127.0.0.1:2379'`, one or more. */
  endpoints: string | readonly string[];
  /**
   * TTL of this node's lease, in ms; default 5000. etcd counts whole seconds (rounded up here)
   * and raises a TTL below its own minimum (about 1.5 × its election timeout).
   */
  leaseTtlMs?: number;
  /** Key prefix of this cluster; default `'/spindle'`. Clusters sharing an etcd need distinct ones. */
  prefix?: string;
  /** Deadline of each etcd call, in ms; default 1000. */
  callTimeoutMs?: number;
}

/** The outcome of {@link EtcdBackend.claim}. */
export interface ClaimResult {
  /** True when this call (or an earlier attempt of it) created the claim for `owner`. */
  readonly won: boolean;
  /** The owner the claim holds now (undefined if its value is not a valid ref). */
  readonly holder: AnyRef | undefined;
}

/** Largest value accepted from etcd under the prefix, in bytes: a ref is far smaller. */
const MAX_VALUE_BYTES = 2048;
/** A key's revision info as kept in the replica. */
interface Entry {
  readonly ref: AnyRef;
  readonly modRevision: number;
  readonly lease: string;
}
type Reason = 'unregistered' | 'exited' | 'node_down';

interface Lease {
  readonly id: string;
  readonly ttlMs: number;
  /** When the last keepalive etcd confirmed was sent (etcd's expiry is at least this + TTL). */
  confirmedAt: number;
}

const DEFAULT_PREFIX = '/spindle';
const PREFIX_PATTERN = /^\/[A-Za-z0-9_.\-/]{0,200}$/;

/** How often the replica is brought to a full read besides the watch, in ms. */
const REFRESH_MS = 5000;
/** How soon a keepalive round that failed is tried again, in ms. */
const KEEPALIVE_RETRY_MS = 250;

/** The etcd backend (see the module comment). Built by `etcd(options)`. */
export class EtcdBackend implements ClusterBackend {
  readonly kind = 'etcd';
  private readonly endpoints: string[];
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly prefix: string;
  private state: 'idle' | 'starting' | 'running' | 'stopped' = 'idle';
  private ctx: BackendContext | undefined;
  private client: Etcd3 | undefined;
  private lease: Lease | undefined;
  private leaseWaiters: (() => void)[] = [];
  private readonly replica = new Map<string, Entry>();
  private readonly claimReplica = new Map<string, Entry>();
  private readonly nodesSeen = new Set<string>();
  /** Exit watches of names this node registered, by name. */
  private readonly exitWatches = new Map<string, { readonly value: Buffer; cancel: () => void }>();
  /** Leases of this node judged lost (the latest few): entries still bound to them are gone. */
  private readonly lostLeases: string[] = [];
  /** Why this node is deleting a name: the watch's delete event is reported with it. */
  private readonly pendingReasons = new Map<string, Reason>();
  /** The highest etcd revision the replica reflects. */
  private seenRevision = 0;
  private revisionWaiters: { revision: number; resolve: () => void }[] = [];
  private watcher: Watcher | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  /** The periodic full read of the replica (see start). */
  private refreshTimer: NodeJS.Timeout | undefined;
  private regrantTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private grpcDeadlineError: (new (...args: never[]) => Error) | undefined;

  constructor(options: EtcdBackendOptions) {
    const o = checkOptions<EtcdBackendOptions>('etcd options', options);
    const endpoints = typeof o.endpoints === 'string' ? [o.endpoints] : o.endpoints;
    if (!Array.isArray(endpoints) || endpoints.length === 0 || endpoints.length > 16)
      throw new InvalidArgumentError('endpoints', `expected 1 to 16 endpoint strings, got ${describeValue(o.endpoints)}`);
    for (const e of endpoints)
      if (typeof e !== 'string' || e === '' || e.length > 300)
        throw new InvalidArgumentError('endpoints', `expected 'host:port' or 'http://host:port', got ${describeValue(e)}`);
    this.endpoints = [...(endpoints as string[])];
    this.ttlMs = checkInteger('leaseTtlMs', o.leaseTtlMs, 5000, 1000, 3_600_000);
    this.timeoutMs = checkInteger('callTimeoutMs', o.callTimeoutMs, 1000, 50, 60_000);
    const prefix = o.prefix ?? DEFAULT_PREFIX;
    if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix) || prefix.endsWith('/'))
      throw new InvalidArgumentError(
        'prefix',
        `expected '/' then letters, digits, '_', '.', '-' or '/', not ending in '/', got ${describeValue(prefix)}`,
      );
    this.prefix = prefix;
  }

  // --- Lifecycle ------------------------------------------------------------------------------

  async start(ctx: BackendContext): Promise<void> {
    if (this.state !== 'idle') throw new InvalidArgumentError('backend', 'an etcd backend starts once; make a new one with etcd(options)');
    this.state = 'starting';
    this.ctx = ctx;
    let mod: typeof import('etcd3');
    try {
      mod = await import('etcd3');
    } catch {
      this.state = 'stopped';
      throw new InvalidArgumentError('backend', "etcd() needs the optional dependency 'etcd3' (npm install etcd3@1.1.2)");
    }
    this.grpcDeadlineError = mod.GRPCDeadlineExceededError;
    const recoverable = mod.isRecoverableError;
    this.client = new mod.Etcd3({
      hosts: this.endpoints,
      dialTimeout: this.timeoutMs,
      faultHandling: { host: () => hostBreaker(recoverable, this.timeoutMs) as never },
    });
    try {
      await this.retrying('start', () => this.acquireLease());
      await this.retrying('start', () => this.resync());
    } catch (e) {
      await this.stop();
      throw e;
    }
    if (this.state !== 'starting') throw new RuntimeClosedError('etcd backend start', 'the backend was stopped while it started');
    this.state = 'running';
    this.scheduleKeepalive();
    // A watch can stall without an error (seen when the etcd member it streams from dies), so
    // the replica is also brought to a full read now and then: a missed change costs at most
    // one period.
    this.refreshTimer = setInterval(() => {
      if (this.state === 'running' && this.resyncTimer === undefined) this.resync().catch(() => this.scheduleResync());
    }, REFRESH_MS);
    this.refreshTimer.unref();
    // The members seen while starting are told once start has resolved: the cluster takes
    // `learn` only once it runs, which is right after (the next macrotask at the latest).
    setImmediate(() => {
      if (this.state !== 'running') return;
      for (const id of this.nodesSeen) this.tell(id);
    });
  }

  /** Revokes the lease (this node's names, claims and node key vanish at once) and closes the client. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    for (const t of [this.keepaliveTimer, this.regrantTimer, this.resyncTimer]) if (t !== undefined) clearTimeout(t);
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    this.cancelExitWatches();
    this.dropWatcher();
    const lease = this.lease;
    this.lease = undefined;
    if (lease !== undefined && this.client !== undefined) {
      const client = this.client;
      await this.call('leaseRevoke', (o) => client.leaseClient.leaseRevoke({ ID: lease.id }, o)).catch((e: unknown) =>
        this.log('warn', `could not revoke lease ${lease.id} (its names expire within ${lease.ttlMs} ms): ${message(e)}`),
      );
    }
    this.client?.close();
    this.client = undefined;
    this.replica.clear();
    this.claimReplica.clear();
    for (const w of this.revisionWaiters) w.resolve();
    this.revisionWaiters = [];
    for (const w of this.leaseWaiters) w();
    this.leaseWaiters = [];
  }

  // --- Names ----------------------------------------------------------------------------------

  async register(name: string, ref: AnyRef): Promise<void> {
    const problem = nameProblem(name);
    if (problem !== undefined) throw new InvalidArgumentError('name', problem);
    if (!isRef(ref)) throw new InvalidArgumentError('ref', `expected a process ref, got ${describeValue(ref)}`);
    const ctx = this.running('register');
    const won = await this.createIfAbsent('register', this.key('names', name), ref);
    if (!won.won) throw new AlreadyRegisteredError(name, formatRef(won.holder as AnyRef));
    // The node whose lease holds the name releases it when the process exits (this one,
    // unless the same process was registered already by another node).
    if (won.leaseId === this.lease?.id) {
      this.exitWatches.get(name)?.cancel();
      const watch = { value: encodeRef(ref), cancel: () => {} };
      this.exitWatches.set(name, watch);
      watch.cancel = ctx.watch(ref, () => {
        if (this.exitWatches.get(name) === watch) this.exitWatches.delete(name);
        void this.releaseOnExit(name, watch.value, won.leaseId);
      });
    }
    // Resolve once this node's replica shows the name: the watch brings it, or (watch
    // broken) it is applied here at the transaction's revision.
    if (!(await this.waitRevision(won.revision))) this.applyPut('names', name, { ref, modRevision: won.revision, lease: won.leaseId });
  }

  async unregister(name: string): Promise<void> {
    const problem = nameProblem(name);
    if (problem !== undefined) throw new InvalidArgumentError('name', problem);
    this.running('unregister');
    const key = this.key('names', name);
    this.pendingReasons.set(name, 'unregistered');
    const client = this.client!;
    try {
      const res = await this.retrying('unregister', (until) => this.call('deleteRange', (o) => client.kv.deleteRange({ key }, o), until));
      // The exit watch goes with the name (and stays if the delete failed).
      this.exitWatches.get(name)?.cancel();
      this.exitWatches.delete(name);
      const revision = Number(res.header.revision);
      if (res.deleted === '0') this.pendingReasons.delete(name);
      else if (!(await this.waitRevision(revision))) this.applyDelete('names', name, revision, false);
    } catch (e) {
      this.pendingReasons.delete(name);
      throw e;
    }
  }

  whereis(name: string): AnyRef | undefined {
    return this.replica.get(name)?.ref;
  }

  names(): string[] {
    return [...this.replica.keys()];
  }

  // --- Claims (DistributedSupervisor) ---------------------------------------------------------

  /**
   * Claims `key` for `owner`, bound to this node's lease (so the claim goes when the node does):
   * create-if-absent, as `register`. Resolves with whether this node won and the holder.
   */
  async claim(key: string, owner: AnyRef): Promise<ClaimResult> {
    const problem = nameProblem(key);
    if (problem !== undefined) throw new InvalidArgumentError('key', problem);
    if (!isRef(owner)) throw new InvalidArgumentError('owner', `expected a process ref, got ${describeValue(owner)}`);
    this.running('claim');
    const r = await this.createIfAbsent('claim', this.key('claims', key), owner);
    if (r.won && !(await this.waitRevision(r.revision)))
      this.applyPut('claims', key, { ref: owner, modRevision: r.revision, lease: r.leaseId });
    return { won: r.won, holder: r.holder };
  }

  /**
   * Releases `key` if this node's current lease holds it (fenced: a node that lost its lease
   * cannot delete a claim another node made since). Resolves with whether it was deleted.
   */
  async release(key: string): Promise<boolean> {
    const problem = nameProblem(key);
    if (problem !== undefined) throw new InvalidArgumentError('key', problem);
    this.running('release');
    const k = this.key('claims', key);
    const client = this.client!;
    const res = await this.retrying('release', async (until) => {
      const lease = await this.currentLease(until);
      return this.call(
        'txn',
        (o) =>
          client.kv.txn(
            { compare: [{ key: k, target: 'Lease', result: 'Equal', lease: lease.id }], success: [{ request_delete_range: { key: k } }] },
            o,
          ),
        until,
      );
    });
    if (!res.succeeded) return false;
    const revision = Number(res.header.revision);
    if (!(await this.waitRevision(revision))) this.applyDelete('claims', key, revision, false);
    return true;
  }

  /** The owner of claim `key` in this node's replica. */
  claimHolder(key: string): AnyRef | undefined {
    return this.claimReplica.get(key)?.ref;
  }

  // --- etcd calls -----------------------------------------------------------------------------

  /** The create-if-absent transaction, bound to the current lease; idempotent for `ref`. */
  private async createIfAbsent(
    op: string,
    key: Buffer,
    ref: AnyRef,
  ): Promise<
    | { won: true; holder: AnyRef; revision: number; leaseId: string }
    | { won: false; holder: AnyRef | undefined; revision: number; leaseId: string }
  > {
    const value = encodeRef(ref);
    const client = this.client!;
    return this.retrying(op, async (until) => {
      const lease = await this.currentLease(until);
      const res = await this.call(
        'txn',
        (o) =>
          client.kv.txn(
            {
              compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
              success: [{ request_put: { key, value, lease: lease.id } }],
              failure: [{ request_range: { key } }],
            },
            o,
          ),
        until,
      );
      if (res.succeeded) return { won: true, holder: ref, revision: Number(res.header.revision), leaseId: lease.id };
      const kv = res.responses[0]?.response_range?.kvs[0];
      // Already held by this very ref: an earlier attempt of this call that committed before
      // its deadline ran out, or the same process registered again (fine, as in Erlang) -
      // unless by a lease of this node judged lost (that key is about to go).
      if (kv !== undefined && Buffer.from(kv.value).equals(value) && !this.lostLeases.includes(String(kv.lease)))
        return { won: true, holder: ref, revision: Number(kv.mod_revision), leaseId: String(kv.lease) };
      return {
        won: false,
        holder: kv === undefined ? undefined : this.decodeRef(kv),
        revision: Number(res.header.revision),
        leaseId: lease.id,
      };
    });
  }

  /** Deletes `names/<name>` after its process exited, if it still holds that process; retried while the lease lasts. */
  private async releaseOnExit(name: string, value: Buffer, leaseId: string): Promise<void> {
    const key = this.key('names', name);
    this.pendingReasons.set(name, 'exited');
    while (this.state === 'running' && this.lease?.id === leaseId) {
      const client = this.client!;
      try {
        const res = await this.call('txn', (o) =>
          client.kv.txn({ compare: [{ key, target: 'Value', result: 'Equal', value }], success: [{ request_delete_range: { key } }] }, o),
        );
        if (!res.succeeded) break;
        const revision = Number(res.header.revision);
        if (!(await this.waitRevision(revision))) this.applyDelete('names', name, revision, false);
        return;
      } catch (e) {
        this.log('warn', `could not release name ${JSON.stringify(name)} after its process exited (retrying): ${message(e)}`);
        await sleep(Math.min(500, this.timeoutMs));
      }
    }
    if (this.pendingReasons.get(name) === 'exited') this.pendingReasons.delete(name);
  }

  /**
   * Runs one etcd call under the deadline: the gRPC deadline cancels the call, and a timer
   * rejects with CallTimeoutError even if the client never settles.
   */
  private call<T>(op: string, run: (options: { deadline: Date }) => Promise<T>, until = Date.now() + this.timeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timeout = () => this.timeoutError(op);
      const timer = setTimeout(() => reject(timeout()), Math.max(1, until - Date.now()));
      let p: Promise<T>;
      try {
        p = run({ deadline: new Date(until) });
      } catch (e) {
        clearTimeout(timer);
        reject(e);
        return;
      }
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(this.grpcDeadlineError !== undefined && e instanceof this.grpcDeadlineError ? timeout() : e);
        },
      );
    });
  }

  private timeoutError(op: string): CallTimeoutError {
    return new CallTimeoutError(`etcd ${this.endpoints.join(',')}`, this.timeoutMs, JSON.stringify(op));
  }

  /**
   * Runs `attempt`, and once more if it failed with anything but a verdict (a typed refusal).
   * Each attempt gets one deadline (`until`, ms since the epoch) for all its steps, so the
   * whole settles within two deadlines.
   */
  private async retrying<T>(op: string, attempt: (until: number) => Promise<T>): Promise<T> {
    try {
      return await attempt(Date.now() + this.timeoutMs);
    } catch (e) {
      if (e instanceof AlreadyRegisteredError || e instanceof InvalidArgumentError || e instanceof RuntimeClosedError) throw e;
      if (this.state === 'stopped') throw new RuntimeClosedError(`etcd ${op}`, 'the backend is stopped');
      return attempt(Date.now() + this.timeoutMs);
    }
  }

  // --- Lease ----------------------------------------------------------------------------------

  /** Grants a lease and puts this node's key under it. */
  private async acquireLease(): Promise<void> {
    const client = this.client;
    const ctx = this.ctx!;
    if (client === undefined) throw new RuntimeClosedError('etcd lease', 'the backend is stopped');
    const sentAt = Date.now();
    const granted = await this.call('leaseGrant', (o) => client.leaseClient.leaseGrant({ TTL: Math.ceil(this.ttlMs / 1000) }, o));
    try {
      await this.call('put', (o) =>
        client.kv.put({ key: this.key('nodes', ctx.shortId), value: Buffer.from(ctx.node), lease: granted.ID }, o),
      );
    } catch (e) {
      void this.call('leaseRevoke', (o) => client.leaseClient.leaseRevoke({ ID: granted.ID }, o)).catch(() => {});
      throw e;
    }
    if (this.state === 'stopped') {
      void this.call('leaseRevoke', (o) => client.leaseClient.leaseRevoke({ ID: granted.ID }, o)).catch(() => {});
      throw new RuntimeClosedError('etcd lease', 'the backend is stopped');
    }
    this.lease = { id: granted.ID, ttlMs: Number(granted.TTL) * 1000, confirmedAt: sentAt };
    const waiters = this.leaseWaiters;
    this.leaseWaiters = [];
    for (const w of waiters) w();
  }

  /** The live lease; while it is being re-granted, waits for it until `until`. */
  private async currentLease(until: number): Promise<Lease> {
    if (this.lease !== undefined) return this.lease;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.leaseWaiters = this.leaseWaiters.filter((w) => w !== done);
          reject(this.timeoutError('leaseGrant'));
        },
        Math.max(1, until - Date.now()),
      );
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.leaseWaiters.push(done);
    });
    if (this.lease === undefined) throw new RuntimeClosedError('etcd lease', 'the backend is stopped');
    return this.lease;
  }

  /**
   * Arms the next keepalive round: TTL/3 after a confirmed one, KEEPALIVE_RETRY_MS after a
   * failed one (an etcd election takes seconds; waiting a whole TTL/3 again would leave one
   * more try before the TTL runs out), never later than the TTL's end.
   */
  private scheduleKeepalive(failed = false): void {
    const lease = this.lease;
    if (this.state !== 'running' || lease === undefined) return;
    const left = lease.confirmedAt + lease.ttlMs - Date.now();
    const delay = Math.max(0, Math.min(failed ? KEEPALIVE_RETRY_MS : lease.ttlMs / 3, left));
    this.keepaliveTimer = setTimeout(() => void this.keepalive(lease), delay);
  }

  /** One keepalive round: confirms the lease, or declares it lost (etcd said so, or TTL passed unconfirmed). */
  private async keepalive(lease: Lease): Promise<void> {
    this.keepaliveTimer = undefined;
    if (this.state !== 'running' || this.lease !== lease) return;
    if (Date.now() - lease.confirmedAt >= lease.ttlMs) {
      this.leaseLost(lease, `no keepalive confirmed within ${lease.ttlMs} ms`);
      return;
    }
    const client = this.client!;
    const sentAt = Date.now();
    let failed = false;
    try {
      const res = await this.call('leaseKeepAlive', async (o) => {
        const stream = await client.leaseClient.leaseKeepAlive(o);
        try {
          return await new Promise<{ TTL: string }>((resolve, reject) => {
            stream.on('data', resolve);
            stream.on('error', reject);
            stream.write({ ID: lease.id });
          });
        } finally {
          try {
            stream.end();
          } catch {
            // already closed
          }
        }
      });
      if (this.lease !== lease) return;
      if (!(Number(res.TTL) > 0)) {
        this.leaseLost(lease, 'etcd reports it expired or revoked');
        return;
      }
      lease.confirmedAt = sentAt;
    } catch {
      failed = true; // judged by the TTL at the next round, which comes soon
    }
    if (this.lease === lease && Date.now() - lease.confirmedAt >= lease.ttlMs) {
      this.leaseLost(lease, `no keepalive confirmed within ${lease.ttlMs} ms`);
      return;
    }
    this.scheduleKeepalive(failed);
  }

  /**
   * The lease may be gone in etcd, and with it this node's names and claims: drop them from
   * the replica (reason `node_down`), revoke the old lease in case etcd still has it, and
   * grant a new one.
   */
  private leaseLost(lease: Lease, why: string): void {
    if (this.lease !== lease) return;
    this.lease = undefined;
    this.lostLeases.push(lease.id);
    if (this.lostLeases.length > 16) this.lostLeases.shift();
    const ctx = this.ctx!;
    this.log('warn', `etcd lease ${lease.id} of node ${ctx.shortId} lost (${why}); its names were released and are not registered again`);
    for (const [name, entry] of [...this.replica])
      if (entry.lease === lease.id) this.applyDelete('names', name, Number.POSITIVE_INFINITY, true);
    for (const [key, entry] of [...this.claimReplica]) if (entry.lease === lease.id) this.claimReplica.delete(key);
    this.cancelExitWatches();
    const client = this.client;
    if (client !== undefined) void this.call('leaseRevoke', (o) => client.leaseClient.leaseRevoke({ ID: lease.id }, o)).catch(() => {});
    this.regrant();
  }

  private regrant(): void {
    if (this.state !== 'running') return;
    this.acquireLease().then(
      () => {
        this.log('info', `etcd lease ${this.lease?.id} granted again to node ${this.ctx?.shortId}`);
        this.scheduleKeepalive();
      },
      () => {
        if (this.state === 'running') this.regrantTimer = setTimeout(() => this.regrant(), 250);
      },
    );
  }

  // --- Replica --------------------------------------------------------------------------------

  /** Reads the whole prefix, brings the replica to it, and watches from the next revision. */
  private async resync(): Promise<void> {
    this.dropWatcher();
    const client = this.client;
    if (client === undefined) throw new RuntimeClosedError('etcd watch', 'the backend is stopped');
    const from = Buffer.from(`${this.prefix}/`);
    const res = await this.call('range', (o) => client.kv.range({ key: from, range_end: prefixEnd(from) }, o));
    if (this.client !== client) return;
    const revision = Number(res.header.revision);
    const seen = { names: new Map<string, Entry>(), claims: new Map<string, Entry>(), nodes: new Set<string>() };
    for (const kv of res.kvs) {
      const parsed = this.parseKey(kv.key);
      if (parsed === undefined) continue;
      if (parsed.kind === 'nodes') {
        seen.nodes.add(parsed.id);
        continue;
      }
      const entry = this.entryOf(parsed.kind, parsed.id, kv);
      if (entry !== undefined) seen[parsed.kind].set(parsed.id, entry);
    }
    for (const [name, entry] of [...this.replica])
      if (!seen.names.has(name)) this.applyDelete('names', name, revision, !seen.nodes.has(shortNodeId(entry.ref.node)));
    for (const [name, entry] of seen.names) this.applyPut('names', name, entry);
    for (const key of [...this.claimReplica.keys()]) if (!seen.claims.has(key)) this.claimReplica.delete(key);
    for (const [key, entry] of seen.claims) this.claimReplica.set(key, entry);
    for (const id of seen.nodes) this.sawNode(id);
    this.advance(revision);
    const watcher = client
      .watch()
      .prefix(from)
      .startRevision(String(revision + 1))
      .watcher();
    this.watcher = watcher;
    watcher.on('data', (r: IWatchResponse) => {
      if (this.watcher === watcher) this.onWatch(r);
    });
    const broken = () => {
      if (this.watcher === watcher) this.scheduleResync();
    };
    watcher.on('disconnected', broken);
    watcher.on('error', broken);
  }

  private scheduleResync(): void {
    this.dropWatcher();
    if (this.state === 'stopped' || this.resyncTimer !== undefined) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      if (this.state === 'stopped') return;
      this.resync().catch(() => this.scheduleResync());
    }, 200);
  }

  private dropWatcher(): void {
    const w = this.watcher;
    this.watcher = undefined;
    if (w !== undefined) void w.cancel().catch(() => {});
  }

  private onWatch(res: IWatchResponse): void {
    // A lease revocation deletes every key of the lease in one revision: a name deleted with
    // its node's key is a node_down.
    const nodeDeletes = new Set<number>();
    for (const ev of res.events) {
      if (ev.type === 'Delete' && this.parseKey(ev.kv.key)?.kind === 'nodes') nodeDeletes.add(Number(ev.kv.mod_revision));
    }
    for (const ev of res.events) {
      const parsed = this.parseKey(ev.kv.key);
      if (parsed === undefined) continue;
      if (parsed.kind === 'nodes') {
        if (ev.type === 'Put') this.sawNode(parsed.id);
        else this.nodesSeen.delete(parsed.id);
        continue;
      }
      const revision = Number(ev.kv.mod_revision);
      if (ev.type === 'Put') {
        const entry = this.entryOf(parsed.kind, parsed.id, ev.kv);
        if (entry !== undefined) this.applyPut(parsed.kind, parsed.id, entry);
        else this.applyDelete(parsed.kind, parsed.id, revision, false); // replaced by a bad value: not a holder any more
      } else {
        this.applyDelete(parsed.kind, parsed.id, revision, nodeDeletes.has(revision));
      }
    }
    this.advance(Number(res.header.revision));
  }

  private applyPut(kind: 'names' | 'claims', id: string, entry: Entry): void {
    if (this.state === 'stopped') return;
    const table = kind === 'names' ? this.replica : this.claimReplica;
    const old = table.get(id);
    if (old !== undefined && old.modRevision >= entry.modRevision) return;
    // Bound to a lease this node judged lost: gone for this node (etcd deletes it soon, if
    // the revoke sent at the loss did not reach it).
    if (this.lostLeases.includes(entry.lease)) return;
    table.set(id, entry);
    if (kind === 'claims') return;
    if (old !== undefined) {
      if (old.lease === entry.lease && encodeRef(old.ref).equals(encodeRef(entry.ref))) return;
      this.emit({ type: 'unregistered', name: id, ref: old.ref, reason: 'unregistered' });
    }
    this.emit({ type: 'registered', name: id, ref: entry.ref });
  }

  private applyDelete(kind: 'names' | 'claims', id: string, revision: number, nodeDown: boolean): void {
    if (this.state === 'stopped') return;
    const table = kind === 'names' ? this.replica : this.claimReplica;
    const old = table.get(id);
    if (old === undefined || old.modRevision > revision) return;
    table.delete(id);
    if (kind === 'claims') return;
    const pending = this.pendingReasons.get(id);
    this.pendingReasons.delete(id);
    const watch = this.exitWatches.get(id);
    if (watch?.value.equals(encodeRef(old.ref))) {
      watch.cancel();
      this.exitWatches.delete(id);
    }
    this.emit({ type: 'unregistered', name: id, ref: old.ref, reason: nodeDown ? 'node_down' : (pending ?? 'unregistered') });
  }

  private cancelExitWatches(): void {
    for (const w of this.exitWatches.values()) w.cancel();
    this.exitWatches.clear();
  }

  /** The replica reflects `revision`: wake the calls waiting for it. */
  private advance(revision: number): void {
    if (revision <= this.seenRevision) return;
    this.seenRevision = revision;
    const ready = this.revisionWaiters.filter((w) => w.revision <= revision);
    this.revisionWaiters = this.revisionWaiters.filter((w) => w.revision > revision);
    for (const w of ready) w.resolve();
  }

  /**
   * Waits until the replica reflects `revision` (the watch brings a change in milliseconds);
   * false at once when the watch is being re-established, or after a quarter deadline: the
   * caller then applies its own change, and the watch's copy of it is skipped by revision.
   */
  private waitRevision(revision: number): Promise<boolean> {
    if (this.seenRevision >= revision) return Promise.resolve(true);
    if (this.watcher === undefined) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter = {
        revision,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.seenRevision >= revision);
        },
      };
      const timer = setTimeout(() => {
        this.revisionWaiters = this.revisionWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, this.timeoutMs / 4);
      this.revisionWaiters.push(waiter);
    });
  }

  private sawNode(shortId: string): void {
    if (this.nodesSeen.has(shortId)) return;
    this.nodesSeen.add(shortId);
    if (this.state === 'running') this.tell(shortId);
  }

  /** Hands another node's id to the cluster to dial. */
  private tell(shortId: string): void {
    if (shortId === this.ctx?.shortId) return;
    try {
      this.ctx?.learn(shortId);
    } catch (e) {
      this.log('warn', `learn(${shortId}) threw: ${message(e)}`);
    }
  }

  // --- Keys and values ------------------------------------------------------------------------

  private key(kind: 'names' | 'claims' | 'nodes', id: string): Buffer {
    return Buffer.from(`${this.prefix}/${kind}/${id}`);
  }

  /** The kind and id of a key under the prefix; undefined (logged) for anything malformed. */
  private parseKey(raw: Buffer): { kind: 'names' | 'claims' | 'nodes'; id: string } | undefined {
    const key = Buffer.from(raw).toString('utf8');
    const base = `${this.prefix}/`;
    if (!key.startsWith(base)) return undefined;
    const rest = key.slice(base.length);
    const slash = rest.indexOf('/');
    const kind = slash < 0 ? '' : rest.slice(0, slash);
    const id = rest.slice(slash + 1);
    if (kind === 'nodes') {
      const node = tryParseNodeId(id);
      if (node !== undefined && node.creation === undefined) return { kind, id };
    } else if ((kind === 'names' || kind === 'claims') && nameProblem(id) === undefined) {
      return { kind, id };
    }
    this.log('warn', `ignored etcd key ${JSON.stringify(key.slice(0, 120))}: not a key of this cluster's layout`);
    return undefined;
  }

  private entryOf(kind: 'names' | 'claims', id: string, kv: IKeyValue): Entry | undefined {
    const ref = this.decodeRef(kv);
    if (ref === undefined) {
      this.log('warn', `ignored etcd ${kind} entry ${JSON.stringify(id.slice(0, 120))}: its value is not a process ref`);
      return undefined;
    }
    return { ref, modRevision: Number(kv.mod_revision), lease: String(kv.lease) };
  }

  /** The ref in a value read from etcd: bounded, parsed in a try, shape-checked, copied. */
  private decodeRef(kv: IKeyValue): AnyRef | undefined {
    const value = kv.value;
    if (value === undefined || value === null || value.length > MAX_VALUE_BYTES) return undefined;
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(value).toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isRef(v)) return undefined;
    return makeRef(v.node, v.thread, v.id);
  }

  // --- Helpers --------------------------------------------------------------------------------

  private running(op: string): BackendContext {
    if (this.state !== 'running' || this.ctx === undefined || this.client === undefined)
      throw new RuntimeClosedError(`etcd ${op}`, this.state === 'stopped' ? 'the backend is stopped' : 'the backend is not started');
    return this.ctx;
  }

  private emit(event: GlobalNameEvent): void {
    try {
      this.ctx?.emit(event);
    } catch (e) {
      this.log('warn', `a name event handler threw: ${message(e)}`);
    }
  }

  private log(level: 'warn' | 'info', text: string): void {
    try {
      this.ctx?.log(level, text);
    } catch {
      // a logger that throws must not break the backend
    }
  }
}

/**
 * The per-endpoint fault policy given to the etcd3 client (it only calls `execute`). Its
 * default circuit breaker opens an endpoint for 5 s after 3 failures; during an etcd leader
 * election the live members time out too, so every endpoint was shut for 5 s and calls failed
 * for about 6 s after the leader died. This one skips an endpoint for one deadline after two
 * failures in a row, then lets a call through again.
 */
function hostBreaker(recoverable: (e: Error) => boolean, openMs: number): { execute<T>(fn: () => PromiseLike<T> | T): Promise<T> } {
  let failures = 0;
  let openUntil = 0;
  return {
    async execute<T>(fn: () => PromiseLike<T> | T): Promise<T> {
      if (Date.now() < openUntil) throw new Error('etcd endpoint skipped for a moment after failures');
      try {
        const v = await fn();
        failures = 0;
        return v;
      } catch (e) {
        if (e instanceof Error && recoverable(e) && ++failures >= 2) {
          failures = 0;
          openUntil = Date.now() + openMs;
        }
        throw e;
      }
    },
  };
}

/** The value stored for a ref: exactly `{"node","thread","id"}`. */
function encodeRef(ref: AnyRef): Buffer {
  return Buffer.from(JSON.stringify({ node: ref.node, thread: ref.thread, id: ref.id }));
}

/** The first key after every key starting with `prefix` (etcd's range end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
