/**
 * `#ajv` in Node: ajv is loaded on first use (it is CommonJS: a synchronous require), so a process
 * that never validates a document (an executor, whose configuration its starter validated) never
 * loads it. Node-only; browsers get ajv-default.ts.
 */
import { createRequire } from 'node:module'
import type { Ajv2020 } from 'ajv/dist/2020.js'

export function loadAjv (): typeof Ajv2020 {
  return (createRequire(import.meta.url)('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js')).Ajv2020
}
