/**
 * The observer's Prometheus exposition (text format 0.0.4): the text parses line by line with
 * a small parser written here, every family has its HELP and TYPE, and hostile label values
 * (process names with quotes, backslashes, newlines, forged samples) come back intact.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GenServerBehavior } from '../../src/index.js';
import { GenServer, Registry } from '../../src/index.js';
import { formatRef } from '../../src/core/ref.js';
import { createCollector } from '../../src/observer/collect.js';
import { escapeLabel, renderMetrics } from '../../src/observer/metrics.js';
import type { ObserverSource } from '../../src/observer/model.js';
import { freshRuntime } from '../../src/testing.js';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

interface Parsed {
  readonly help: Map<string, string>;
  readonly type: Map<string, string>;
  readonly samples: Sample[];
}

/** Parses the text format strictly: throws on any line that is not a comment or a well-formed sample. */
function parse(text: string): Parsed {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment !== null) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string];
      if (kind === 'TYPE' && !['counter', 'gauge'].includes(rest)) throw new Error(`bad type: ${line}`);
      (kind === 'HELP' ? help : type).set(name, rest);
      continue;
    }
    samples.push(sample(line));
  }
  return { help, type, samples };
}

/** One sample line: `name{label="value",...} number`, label values unescaped. */
function sample(line: string): Sample {
  const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (head === null) throw new Error(`bad line: ${JSON.stringify(line)}`);
  const name = head[1] as string;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const key = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i));
      if (key === null) throw new Error(`bad label at ${i}: ${JSON.stringify(line)}`);
      i += key[0].length;
      let v = '';
      for (;;) {
        const c = line[i++];
        if (c === undefined) throw new Error(`unterminated label value: ${JSON.stringify(line)}`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          if (e === 'n') v += '\n';
          else if (e === '\\' || e === '"') v += e;
          else throw new Error(`bad escape \\${e}: ${JSON.stringify(line)}`);
        } else v += c;
      }
      labels[key[1] as string] = v;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`expected , or } at ${i}: ${JSON.stringify(line)}`);
    }
    i++;
  }
  const rest = line.slice(i);
  const m = /^ (\S+)$/.exec(rest);
  if (m === null) throw new Error(`bad value: ${JSON.stringify(line)}`);
  const value = m[1] === '+Inf' ? Number.POSITIVE_INFINITY : m[1] === '-Inf' ? Number.NEGATIVE_INFINITY : Number(m[1]);
  if (m[1] !== 'NaN' && Number.isNaN(value)) throw new Error(`bad number: ${JSON.stringify(line)}`);
  return { name, labels, value };
}

const HOSTILE = ['quote"d', 'back\\slash', 'new\nline', 'x"} 1\nspindle_fake 2', '\\"\\n', 'ünïcødé ✓', ''];

describe('renderMetrics', () => {
  it('renders every family with HELP and TYPE and escapes hostile label values', () => {
    const text = renderMetrics({
      processes: HOSTILE.map((name, i) => ({
        ref: `#Ref<n@h:1/0/${i + 1}>`,
        thread: 0,
        names: name === '' ? [] : [name],
        handled: i,
        mailbox: 2 * i,
        dropped: 3 * i,
      })),
      threads: [
        { thread: 0, processes: 7, elu: 0.25, heapUsed: 1234, droppedCasts: 5 },
        { thread: 1, processes: 1, elu: null, heapUsed: null, droppedCasts: null },
      ],
      peers: [{ id: 'p"e\\er\n@h:2', connected: true, bytesIn: 10, bytesOut: 20, framesIn: 1, framesOut: 2 }],
    });
    const p = parse(text);
    const families = [
      'spindle_process_messages_handled_total',
      'spindle_process_mailbox_messages',
      'spindle_process_dropped_total',
      'spindle_thread_processes',
      'spindle_thread_event_loop_utilization',
      'spindle_thread_heap_used_bytes',
      'spindle_thread_dropped_casts_total',
      'spindle_node_bytes_in_total',
      'spindle_node_bytes_out_total',
      'spindle_node_frames_in_total',
      'spindle_node_frames_out_total',
      'spindle_node_connected',
    ];
    for (const f of families) {
      expect(p.help.get(f), f).toBeTruthy();
      expect(p.type.get(f), f).toBe(f.endsWith('_total') ? 'counter' : 'gauge');
    }
    // Every sample belongs to a declared family; nothing forged.
    for (const s of p.samples) expect(families).toContain(s.name);
    const handled = p.samples.filter((s) => s.name === 'spindle_process_messages_handled_total');
    expect(handled.map((s) => s.labels.name)).toEqual(HOSTILE);
    expect(handled.map((s) => s.value)).toEqual(HOSTILE.map((_, i) => i));
    expect(handled[0]?.labels).toEqual({ ref: '#Ref<n@h:1/0/1>', thread: '0', name: HOSTILE[0] });
    expect(p.samples.find((s) => s.name === 'spindle_process_dropped_total' && s.labels.name === HOSTILE[3])?.value).toBe(9);
    // Unknown figures are left out, not reported as 0.
    expect(p.samples.filter((s) => s.name === 'spindle_thread_event_loop_utilization').map((s) => s.labels.thread)).toEqual(['0']);
    expect(p.samples.find((s) => s.name === 'spindle_thread_dropped_casts_total')?.value).toBe(5);
    expect(p.samples.find((s) => s.name === 'spindle_node_connected')).toEqual({
      name: 'spindle_node_connected',
      labels: { node: 'p"e\\er\n@h:2' },
      value: 1,
    });
  });

  it('escapes backslash, double quote and newline only', () => {
    expect(escapeLabel('a\\b"c\nd\te')).toBe('a\\\\b\\"c\\nd\te');
  });

  it('renders an empty node as the families alone', () => {
    const p = parse(renderMetrics({ processes: [], threads: [], peers: [] }));
    expect(p.samples).toEqual([]);
    expect(p.type.size).toBe(12);
  });
});

describe('collector.metrics', () => {
  let dispose: (() => void) | undefined;
  let collector: ObserverSource | undefined;
  afterEach(() => {
    collector?.close();
    dispose?.();
    dispose = undefined;
  });

  const counter: GenServerBehavior<number, { cast: 'inc'; call: ['get', number] }> = {
    init: () => 0,
    handleCast: (_m, n) => n + 1,
    handleCall: (_m, n) => [n, n],
  };

  it('exposes this node: per process counters with hostile names intact, and the main thread', async () => {
    const env = freshRuntime();
    dispose = env.dispose;
    const name = 'evil"} 1\n# TYPE spindle_fake gauge\\';
    const ref = await GenServer.start(counter, { name });
    await Registry.register('second', ref);
    for (let i = 0; i < 3; i++) GenServer.cast(ref, 'inc');
    await GenServer.call(ref, 'get');
    collector = createCollector(env.rt);
    const p = parse(await collector.metrics());
    const mine = p.samples.filter((s) => s.labels.ref === formatRef(ref));
    expect(mine.map((s) => [s.name, s.value])).toEqual([
      ['spindle_process_messages_handled_total', 4],
      ['spindle_process_mailbox_messages', 0],
      ['spindle_process_dropped_total', 0],
    ]);
    expect(mine[0]?.labels).toEqual({ ref: formatRef(ref), thread: '0', name });
    expect(p.type.has('spindle_fake')).toBe(false);
    const main = p.samples.filter((s) => s.labels.thread === '0' && s.name.startsWith('spindle_thread_'));
    expect(main.map((s) => s.name)).toEqual([
      'spindle_thread_processes',
      'spindle_thread_event_loop_utilization',
      'spindle_thread_heap_used_bytes',
      'spindle_thread_dropped_casts_total',
    ]);
    expect(main[0]?.value).toBe(1);
    expect(main[2]?.value).toBeGreaterThan(0);
    // Outside a cluster: no peers.
    expect(p.samples.some((s) => s.name.startsWith('spindle_node_'))).toBe(false);
  });
});
