/**
 * glibc malloc settings of the node's processes (ops/ecosystem.config.cjs puts them in each app's
 * environment; glibc reads them at exec). By default each thread that allocates — the main
 * thread, V8's compile and GC threads, an executor's pool workers — may get an arena of its own
 * (up to 8 per core), and what is freed in an arena stays resident. Measured (issue 11,
 * bench/compiled-module-cost.ts and an executor pool running 1,000 distinct modules): the pool
 * kept +18 MiB after them with the default, +4 MiB with 2 arenas, and an executor idles a few MiB
 * lower; the signer went from 1.34× its idle PSS after 300 distinct modules to 1.00×. Warm job
 * latency did not move (bench/warm-latency.ts, medians in the commit).
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' }
