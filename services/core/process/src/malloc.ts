/**
 * glibc's own heaps, from JavaScript (native/malloc.c, built by node-gyp when the package
 * installs): `releaseFreedMemory()` hands back to the kernel every whole page glibc holds free
 * (malloc_trim), `mallocInfo()` tells how much it holds.
 *
 * Why (issue 11, every process back within 20% of its idle memory after load): what a burst of
 * work frees inside glibc's heaps — V8's compiler zones on its background threads, HTTP/2
 * buffers, a pool worker's compiled modules — stays resident, because free() returns pages only
 * from the top of a heap. Measured before this: a node after 1,000 distinct modules kept its
 * executors at 1.48-1.51× and discovery at 1.42× of idle while their JS heaps were flat.
 *
 * Without the addon (no C compiler where the package was installed, or not glibc) both answer
 * `undefined` and the process runs as before; `mallocAddonError()` says why.
 */
import { createRequire } from 'node:module'

export interface MallocInfo {
  /** Bytes glibc obtained for its heaps (every arena). */
  heapBytes: number
  /** Bytes of chunks in mappings of their own. */
  mmapBytes: number
  /** Bytes handed out and not freed. */
  inUseBytes: number
  /** Bytes freed and still held by glibc (what a trim can return, in whole pages). */
  freeBytes: number
  /** Of those, at the top of the main heap (free() returns these itself past a threshold). */
  topFreeBytes: number
}

interface Addon { trim: () => boolean, info: () => MallocInfo }

/** Where node-gyp puts the build, relative to this file. */
export const MALLOC_ADDON_PATH = '../build/Release/phase_malloc.node'

let addon: Addon | null | undefined
let loadError: string | undefined

function load (): Addon | null {
  if (addon !== undefined) return addon
  try {
    addon = createRequire(import.meta.url)(MALLOC_ADDON_PATH) as Addon
  } catch (err) {
    addon = null
    loadError = (err as Error).message.split('\n')[0]
  }
  return addon
}

/** Loads the addon now (a process does at start, so a missing build shows at once). True when it is there. */
export function loadMallocAddon (): boolean {
  return load() !== null
}

/** Why the addon is not there, when it is not. */
export function mallocAddonError (): string | undefined {
  load()
  return loadError
}

/** malloc_trim(0): true when memory went back to the kernel, undefined without the addon. */
export function releaseFreedMemory (): boolean | undefined {
  return load()?.trim()
}

/** glibc's account of its heaps (mallinfo2), undefined without the addon. */
export function mallocInfo (): MallocInfo | undefined {
  return load()?.info()
}
