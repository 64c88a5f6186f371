/**
 * The Node options a worker thread starts with: one rule for thread subtrees and Task pools.
 *
 * A worker inherits the main thread's `process.execArgv` unless told otherwise, and some of
 * those options break it or make no sense there: `--input-type` (the main script ran with
 * `-e`) fails every worker at its first import, `--inspect` would have every worker claim
 * the debugger port, `--title` or a V8 flag is refused outright. So a worker is given only the
 * options that change how JavaScript loads and runs on a thread (loaders and `--import`,
 * `--conditions`, experimental module and language features, warnings and deprecations,
 * source maps, `--unhandled-rejections`, permissions…), and none of these:
 *
 * - **the entry point**: `-e`/`--eval`, `-p`/`--print`, `--input-type`, `-c`/`--check`,
 *   `-i`/`--interactive`, `--test*`, `--experimental-test-*`, `--watch*`, `--run`,
 *   `--env-file*` (the environment is loaded once, for the process), snapshots and SEA;
 * - **one per process**: `--inspect*`/`--debug*` (workers are debugged through the main
 *   thread's inspector), profilers and diagnostics (`--prof`, `--cpu-prof*`, `--heap-prof*`,
 *   `--heapsnapshot-*`, `--report-*`, `--diagnostic-dir`, trace events);
 * - **process-wide settings** Node refuses in a worker (they already apply to every thread):
 *   `--title`, `--disable-proto`, OpenSSL, ICU and FIPS settings, `--secure-heap*`,
 *   `--zero-fill-buffers`, and
 *   every V8 flag (`--max-old-space-size`, `--stack-trace-limit`, `--expose-gc`, …; heap
 *   sizes per thread are `resourceLimits`).
 *
 * Options set through `NODE_OPTIONS` are not in `execArgv`: Node applies them to every
 * thread itself.
 */

/** Dropped option families, by name without dashes or `no-` (see the module comment). */
const ENTRY_POINT =
  /^(eval|print|input-type|check|interactive|test|test-.*|experimental-test-.*|watch|watch-.*|run|env-file|env-file-.*|build-snapshot.*|snapshot-blob|experimental-sea-config|prof-process|completion-bash|help|version|v8-options)$/;
const ONE_PER_PROCESS =
  /^(inspect|inspect-.*|debug|debug-.*|prof|cpu-prof.*|heap-prof.*|heapsnapshot-.*|report-.*|experimental-report|diagnostic-dir|trace-event-.*|trace-events-enabled|trace-sigint)$/;
const PROCESS_WIDE =
  /^(title|icu-data-dir|openssl-.*|tls-cipher-list|use-openssl-ca|use-bundled-ca|enable-fips|force-fips|secure-heap|secure-heap-min|zero-fill-buffers|v8-pool-size|node-memory-debug|use-largepages|node-snapshot|disable-wasm-trap-handler|disable-proto)$/;
/**
 * V8 flags that Node lists among its own options (allowed in NODE_OPTIONS), or Node options
 * that only set one (`--experimental-shadow-realm`): still V8's, still refused in a worker.
 */
const V8_LISTED =
  /^(abort-on-uncaught-exception|disallow-code-generation-from-strings|enable-etw-stack-walking|expose-gc|huge-max-old-generation-size|interpreted-frames-native-stack|jitless|max-old-space-size|max-semi-space-size|perf-basic-prof.*|perf-prof.*|stack-trace-limit|experimental-shadow-realm)$/;

/** Short options and their long names. */
const SHORT: Readonly<Record<string, string>> = {
  '-e': '--eval',
  '-p': '--print',
  '-c': '--check',
  '-i': '--interactive',
  '-r': '--require',
  '-C': '--conditions',
  '-h': '--help',
  '-v': '--version',
};

/**
 * The part of `execArgv` a worker thread should start with (see the module comment). Each
 * option keeps its value, whether written `--flag=value` or `--flag value`, and the order.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    // execArgv holds only options and their values (never the script or its arguments), so
    // what follows an option and does not start with '-' is its value. Code after -e/-p may
    // start with anything.
    const evalLike = isEvalLike(arg);
    const next = execArgv[i + 1];
    const takesNext = next !== undefined && !arg.includes('=') && (evalLike || !next.startsWith('-'));
    const keep = !evalLike && arg !== '--' && arg.startsWith('-') && keepOption(arg);
    if (keep) out.push(arg);
    if (takesNext) {
      if (keep) out.push(next);
      i++;
    }
  }
  return out;
}

/** -e, --eval, -p, --print, and short groups like -pe. */
function isEvalLike(arg: string): boolean {
  if (arg === '--eval' || arg === '--print' || arg.startsWith('--eval=') || arg.startsWith('--print=')) return true;
  return /^-[a-zA-Z]+$/.test(arg) && /[ep]/.test(arg);
}

/** Whether one option (`--name`, `--name=value`, `-x`) belongs in a worker. */
function keepOption(arg: string): boolean {
  const flag = SHORT[arg] ?? arg.split('=', 1)[0];
  if (flag === undefined || !flag.startsWith('--')) return false;
  const name = flag.slice(2).replace(/_/g, '-');
  const base = name.startsWith('no-') ? name.slice(3) : name;
  if (ENTRY_POINT.test(base) || ONE_PER_PROCESS.test(base) || PROCESS_WIDE.test(base) || V8_LISTED.test(base)) return false;
  // Not one of Node's own options: a V8 flag (process-wide; Node refuses it in a worker).
  return process.allowedNodeEnvironmentFlags.has(flag) || process.allowedNodeEnvironmentFlags.has(`--${name}`);
}
