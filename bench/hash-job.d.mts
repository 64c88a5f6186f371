// Types for bench/hash-job.mjs (plain JavaScript so worker pools load it without tsx).
export declare function hash(reps: number): string;
export declare function inc(n: number): number;
