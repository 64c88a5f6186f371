/**
 * The observer's Prometheus exposition: this node's per-process, per-thread and per-peer
 * counters in the text format 0.0.4 (`# HELP` and `# TYPE` lines, then one sample a line).
 * Label values are user strings (process names): backslash, double quote and newline are
 * escaped as the format requires, so a hostile name cannot forge a line or a label.
 */

/** One process, as the metrics read it. */
export interface ProcessMetrics {
  /** The ref as text. */
  readonly ref: string;
  readonly thread: number;
  readonly names: readonly string[];
  readonly handled: number;
  readonly mailbox: number;
  readonly dropped: number;
}

/** One thread, as the metrics read it. */
export interface ThreadMetrics {
  readonly thread: number;
  readonly processes: number;
  /** Event-loop utilisation 0..1 (null: unknown, no sample). */
  readonly elu: number | null;
  /** Heap bytes in use (null: unknown, no sample). */
  readonly heapUsed: number | null;
  /** Casts dropped on the thread (cumulative; null: unknown, no sample). */
  readonly droppedCasts: number | null;
}

/** One peer node, as the metrics read it (cumulative counters). */
export interface PeerMetrics {
  /** `name@host:port`. */
  readonly id: string;
  readonly connected: boolean;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly framesIn: number;
  readonly framesOut: number;
}

/** What {@link renderMetrics} renders: one node's figures. */
export interface MetricsInput {
  readonly processes: readonly ProcessMetrics[];
  readonly threads: readonly ThreadMetrics[];
  readonly peers: readonly PeerMetrics[];
}

/** The Content-Type of the text this module renders. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** `v` as a label value: backslash, double quote and line feed escaped (text format 0.0.4). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A sample value: integers as such, the specials as the format spells them. */
function value(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

type Labels = readonly (readonly [string, string])[];

/** One metric family: its HELP and TYPE lines and its samples (an absent value is no sample). */
class Family {
  private readonly lines: string[];
  constructor(
    private readonly name: string,
    type: 'counter' | 'gauge',
    help: string,
  ) {
    this.lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  }

  add(labels: Labels, v: number | null): void {
    if (v === null) return;
    const l = labels.map(([k, x]) => `${k}="${escapeLabel(x)}"`).join(',');
    this.lines.push(`${this.name}{${l}} ${value(v)}`);
  }

  text(): string {
    return this.lines.join('\n');
  }
}

/** The exposition of `m`: every family with its HELP and TYPE lines, ending with a newline. */
export function renderMetrics(m: MetricsInput): string {
  const handled = new Family('spindle_process_messages_handled_total', 'counter', 'Messages the process has handled.');
  const mailbox = new Family('spindle_process_mailbox_messages', 'gauge', 'Messages waiting in the process mailbox.');
  const dropped = new Family('spindle_process_dropped_total', 'counter', 'User messages refused by the full mailbox of the process.');
  for (const p of m.processes) {
    const labels: Labels = [
      ['ref', p.ref],
      ['thread', String(p.thread)],
      ['name', p.names[0] ?? ''],
    ];
    handled.add(labels, p.handled);
    mailbox.add(labels, p.mailbox);
    dropped.add(labels, p.dropped);
  }
  const processes = new Family('spindle_thread_processes', 'gauge', 'Live processes on the thread.');
  const elu = new Family(
    'spindle_thread_event_loop_utilization',
    'gauge',
    'Event-loop utilisation of the thread over the last interval (0..1).',
  );
  const heap = new Family('spindle_thread_heap_used_bytes', 'gauge', 'Bytes of JS heap in use on the thread.');
  const casts = new Family(
    'spindle_thread_dropped_casts_total',
    'counter',
    'Casts dropped on the thread: no such process, a full mailbox, a busy channel.',
  );
  for (const t of m.threads) {
    const labels: Labels = [['thread', String(t.thread)]];
    processes.add(labels, t.processes);
    elu.add(labels, t.elu);
    heap.add(labels, t.heapUsed);
    casts.add(labels, t.droppedCasts);
  }
  const bytesIn = new Family('spindle_node_bytes_in_total', 'counter', 'Bytes received from the peer node.');
  const bytesOut = new Family('spindle_node_bytes_out_total', 'counter', 'Bytes sent to the peer node.');
  const framesIn = new Family('spindle_node_frames_in_total', 'counter', 'Frames received from the peer node.');
  const framesOut = new Family('spindle_node_frames_out_total', 'counter', 'Frames sent to the peer node.');
  const connected = new Family('spindle_node_connected', 'gauge', '1 while the peer node is connected, else 0.');
  for (const p of m.peers) {
    const labels: Labels = [['node', p.id]];
    bytesIn.add(labels, p.bytesIn);
    bytesOut.add(labels, p.bytesOut);
    framesIn.add(labels, p.framesIn);
    framesOut.add(labels, p.framesOut);
    connected.add(labels, p.connected ? 1 : 0);
  }
  const families = [handled, mailbox, dropped, processes, elu, heap, casts, bytesIn, bytesOut, framesIn, framesOut, connected];
  return `${families.map((f) => f.text()).join('\n')}\n`;
}
