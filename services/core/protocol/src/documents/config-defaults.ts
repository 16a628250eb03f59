/**
 * The node configuration's defaults: the `default` keywords of schemas/config.schema.json, the
 * one place each is written. `configDefault('limits.max_input_bytes')` reads one (typed by the
 * schema: a key without a `default` is a compile error); the config loader, and every component
 * whose option mirrors a config key, take their defaults from here.
 */
import configSchema from '@phase-network/schemas/config.schema.json' with { type: 'json' }

type Properties<S> = S extends { properties: infer P } ? P : never
type Key<S> = keyof Properties<S> & string

/** Dotted path of every config key that has a `default` in the schema, e.g. 'limits.max_input_bytes'. */
export type ConfigDefaultKey<S = typeof configSchema> = {
  [K in Key<S>]: Properties<S>[K] extends { default: unknown }
    ? K
    : Properties<S>[K] extends { properties: object } ? `${K}.${ConfigDefaultKey<Properties<S>[K]>}` : never
}[Key<S>]

type At<S, P extends string> = P extends `${infer H}.${infer R}` ? At<Properties<S>[H & Key<S>], R> : Properties<S>[P & Key<S>]

/** The type of a key's default (number, boolean, string, string[]). */
export type ConfigDefault<K extends ConfigDefaultKey> = At<typeof configSchema, K> extends { default: infer D } ? D : never

/** Reads defaults from one schema document. */
export type ConfigDefaults = <K extends ConfigDefaultKey>(key: K) => ConfigDefault<K>

/** Every property of `schema` with a `default`, at its dotted path; values are frozen copies. */
function collect (schema: object): Map<string, unknown> {
  const found = new Map<string, unknown>()
  const visit = (node: object, prefix: string): void => {
    const properties = (node as { properties?: unknown }).properties
    if (typeof properties !== 'object' || properties === null) return
    for (const [name, child] of Object.entries(properties)) {
      if (typeof child !== 'object' || child === null) continue
      if (Object.hasOwn(child, 'default')) found.set(prefix + name, deepFreeze(structuredClone((child as { default: unknown }).default)))
      visit(child, `${prefix}${name}.`)
    }
  }
  visit(schema, '')
  return found
}

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) deepFreeze(v)
  return Object.freeze(value)
}

/** The defaults of `schema` (a config schema document), collected once. Reading a key with none throws. */
export function configDefaults (schema: object): ConfigDefaults {
  const found = collect(schema)
  return <K extends ConfigDefaultKey>(key: K): ConfigDefault<K> => {
    if (!found.has(key)) throw new Error(`config schema: no default for ${key}`)
    return found.get(key) as ConfigDefault<K>
  }
}

/** The default of one config key, from schemas/config.schema.json. */
export const configDefault: ConfigDefaults = configDefaults(configSchema)

/** Dotted paths of every key with a default in `schema` (default: schemas/config.schema.json). */
export function configDefaultKeys (schema: object = configSchema): string[] {
  return [...collect(schema).keys()]
}
