// The stateless CPU job of bench/task-vs-piscina.ts, as plain JavaScript so Spindle's Task
// pool and a raw piscina pool load exactly the same code (no tsx on either side).
import { createHash } from 'node:crypto';

/** 64 KB of fixed bytes, made once per thread. */
const BUF = Buffer.alloc(64 * 1024, 0xab);

/** Hashes the 64 KB buffer `reps` times with SHA-256, chaining the digests; returns the last as hex. */
export function hash(reps) {
  let digest = '';
  for (let i = 0; i < reps; i++) digest = createHash('sha256').update(BUF).update(digest).digest('hex');
  return digest;
}

/** A trivial job: the per-job overhead of the pool, with no work to hide it. One argument,
 * because a piscina handler receives the task as its single argument. */
export function inc(n) {
  return n + 1;
}
