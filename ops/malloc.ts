/**
 * glibc malloc settings of the node's processes (ops/ecosystem.config.cjs puts them in each app's
 * environment; glibc reads them at exec). By default each thread that allocates — the main
 * thread, V8's compile and GC threads, an executor's pool workers — may get an arena of its own
 * (up to 8 per core), and what is freed in an arena stays resident. Measured (issue 11): a real
 * executor's anonymous PSS after 400 distinct modules grew +19.9 MiB with the default, +7.6-7.9
 * with 2 arenas (test/executor/module-cache-memory.test.ts); bench/memory.ts --quick, after 300
 * distinct modules, signer 1.34× → 1.00-1.25× and executors 1.32-1.40× → 1.20-1.28× of idle.
 * Warm latency A/B (bench/warm-latency.ts, 2 pairs on a machine at load 14-22) was within its
 * noise (p50 3.0-3.3 ms with 2 arenas, 3.6-5.5 ms without): no cost seen, none ruled out.
 * MALLOC_MMAP_THRESHOLD_=65536 as well lowered an in-process pool's idle by ~5 MiB but showed
 * no gain on a whole node: not set.
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' }
