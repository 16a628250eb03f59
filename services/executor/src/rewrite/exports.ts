/**
 * The names under which the rewriter (rewrite.ts) exports what it adds to a module, apart from
 * the rewriter itself: the pool's worker threads read these exports and need nothing else of it
 * (the rewriter and its instruction tables cost each worker's heap ~0.3 MiB; issue 11).
 */
export const FUEL_EXPORT = 'phase:fuel'
export const GROW_REFUSED_EXPORT = 'phase:grow_refused'
/**
 * The module's start function, exported under this name with its start section removed: it would
 * run inside instantiation, before the host can set the job's fuel. The worker calls it right
 * after instantiating, before `_start` (nothing the guest can observe happens in between).
 */
export const START_EXPORT = 'phase:start'
