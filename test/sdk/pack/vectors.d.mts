/** Declarations of vectors.mjs (plain JavaScript, so that Node 20 and a browser run it as it is). */
export function optionsOf (expect: unknown): Record<string, unknown>
export function verdictsOf (verify: (receipt: string, options: any) => Promise<unknown>, cases: unknown[]): Promise<Record<string, string>>
export function fixedManifest<M> (manifest: (module: Uint8Array) => { args: (...a: string[]) => { nonce: (hex: string) => { build: () => M } } }, hello: Uint8Array): M
