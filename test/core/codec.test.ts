/**
 * The compiled protobuf codec (services/core/rpc/src/codec.ts) against protobuf-es itself: the
 * same bytes as toBinary for every message type of proto/ (and a test file using every scalar
 * type, enums, packed lists, maps and recursion), the same message as fromBinary for those bytes
 * and for damaged, non-canonical and hostile ones, and the same refusals.
 */
import { describe, it, expect } from '@jest/globals'
import { create, createFileRegistry, fromBinary, toBinary, ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf'
import { FileDescriptorProtoSchema, FieldDescriptorProto_Type as T, FieldDescriptorProto_Label as L, StringValueSchema, StructSchema } from '@bufbuild/protobuf/wkt'
import { randomBytes } from 'node:crypto'
import * as node from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import * as executor from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import * as signer from '../../services/core/rpc/src/gen/phase/signer/v1/signer_pb.js'
import * as rpc from '../../services/core/rpc/src/gen/phase/rpc/v1/rpc_pb.js'
import { messageCodec } from '../../services/core/rpc/src/codec.ts'

/** A proto3 file with what proto/ does not use yet: every scalar type, enums, packed lists, recursion. */
const testFile = (() => {
  const scalar = (name: string, number: number, type: T, label = L.OPTIONAL, extra: object = {}): object => ({ name, number, type, label, jsonName: name, ...extra })
  const types: Array<[string, T]> = [['d', T.DOUBLE], ['f', T.FLOAT], ['i64', T.INT64], ['u64', T.UINT64], ['i32', T.INT32], ['fx64', T.FIXED64], ['fx32', T.FIXED32], ['b', T.BOOL], ['s', T.STRING], ['by', T.BYTES], ['u32', T.UINT32], ['sfx32', T.SFIXED32], ['sfx64', T.SFIXED64], ['s32', T.SINT32], ['s64', T.SINT64]]
  const fields = [
    ...types.map(([n, t], i) => scalar(n, i + 1, t)),
    ...types.map(([n, t], i) => scalar(`r_${n}`, i + 101, t, L.REPEATED)),
    scalar('color', 200, T.ENUM, L.OPTIONAL, { typeName: '.codectest.Color' }),
    scalar('colors', 201, T.ENUM, L.REPEATED, { typeName: '.codectest.Color' }),
    scalar('child', 202, T.MESSAGE, L.OPTIONAL, { typeName: '.codectest.All' }),
    scalar('kids', 203, T.MESSAGE, L.REPEATED, { typeName: '.codectest.All' }),
    scalar('labels', 204, T.MESSAGE, L.REPEATED, { typeName: '.codectest.All.LabelsEntry' }),
    scalar('counts', 205, T.MESSAGE, L.REPEATED, { typeName: '.codectest.All.CountsEntry' }),
    scalar('o_s', 206, T.STRING, L.OPTIONAL, { oneofIndex: 0 }),
    scalar('o_u64', 207, T.UINT64, L.OPTIONAL, { oneofIndex: 0 }),
    scalar('o_all', 208, T.MESSAGE, L.OPTIONAL, { oneofIndex: 0, typeName: '.codectest.All' }),
    scalar('o_color', 209, T.ENUM, L.OPTIONAL, { oneofIndex: 0, typeName: '.codectest.Color' }),
    scalar('big', 536870911, T.UINT32)
  ]
  const entry = (name: string, value: T): object => ({ name, field: [scalar('key', 1, T.STRING), scalar('value', 2, value)], options: { mapEntry: true } })
  const proto = create(FileDescriptorProtoSchema, {
    name: 'codectest.proto',
    package: 'codectest',
    syntax: 'proto3',
    enumType: [{ name: 'Color', value: [{ name: 'COLOR_UNSPECIFIED', number: 0 }, { name: 'COLOR_RED', number: 1 }, { name: 'COLOR_NEG', number: -5 }] }],
    messageType: [
      { name: 'All', field: fields as never, nestedType: [entry('LabelsEntry', T.STRING), entry('CountsEntry', T.INT64)] as never, oneofDecl: [{ name: 'pick' }] },
      // proto3 optional: explicit presence, outside the fast paths (protobuf-es encodes it).
      { name: 'Opt', field: [scalar('n', 1, T.INT32, L.OPTIONAL, { proto3Optional: true, oneofIndex: 0 })] as never, oneofDecl: [{ name: '_n' }] }
    ]
  })
  const registry = createFileRegistry(proto, () => undefined)
  return { All: registry.getMessage('codectest.All')!, Opt: registry.getMessage('codectest.Opt')! }
})()

/** Every message type the node's protos define. */
const projectSchemas: DescMessage[] = [node, executor, signer, rpc].flatMap((mod) => Object.entries(mod)
  .filter(([k, v]) => k.endsWith('Schema') && (v as { kind?: string }).kind === 'message')
  .map(([, v]) => v as DescMessage))

// Deterministic: a failure can be run again as it was.
let seed = 0x2545f491
const rnd = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32 }
const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rnd() * xs.length)]!
const STRINGS = ['', 'a', 'Hello, World', 'twenty ASCII chars!!', 'w'.repeat(32), 'v'.repeat(30) + 'é', 'v'.repeat(31) + 'é', 'x'.repeat(33), 'y'.repeat(200), 'é', 'naïve ✓', '𝄞 clef', 'lone \ud800 high', 'lone \udc00 low', '\ud83d', '\u0000nul', '\ufeffbom', 'z'.repeat(70) + '€']

function scalarValue (t: ScalarType): unknown {
  switch (t) {
    case ScalarType.STRING: return pick(STRINGS)
    case ScalarType.BYTES: return pick([new Uint8Array(0), new Uint8Array(randomBytes(Math.floor(rnd() * 40))), Buffer.from('buf'), new Uint8Array(randomBytes(300))])
    case ScalarType.BOOL: return rnd() < 0.5
    case ScalarType.DOUBLE: return pick([0, -0, 1.5, -3e300, Number.NaN, Infinity, -Infinity, rnd() * 1e9, Number.MIN_VALUE])
    case ScalarType.FLOAT: return pick([0, -0, Math.fround(1.1), Math.fround(-7e30), Number.NaN, Infinity, Math.fround(rnd())])
    case ScalarType.INT32: case ScalarType.SFIXED32: case ScalarType.SINT32: return pick([0, 1, -1, 127, 128, -129, 2 ** 31 - 1, -(2 ** 31), Math.floor(rnd() * 2 ** 32) - 2 ** 31])
    case ScalarType.UINT32: case ScalarType.FIXED32: return pick([0, 1, 127, 128, 16383, 16384, 2 ** 28, 2 ** 31, 2 ** 32 - 1, Math.floor(rnd() * 2 ** 32)])
    case ScalarType.UINT64: case ScalarType.FIXED64: return pick([0n, 1n, 127n, 128n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 35n - 1n, 2n ** 35n, 2n ** 63n, 2n ** 64n - 1n, BigInt(Math.floor(rnd() * 2 ** 53)) * 2047n])
    default: return pick([0n, 1n, -1n, 2n ** 31n, -(2n ** 31n), 2n ** 32n, -(2n ** 40n), 2n ** 63n - 1n, -(2n ** 63n), BigInt(Math.floor(rnd() * 2 ** 53)) - 2n ** 52n])
  }
}

function fieldValue (f: DescField, depth: number): unknown {
  switch (f.fieldKind) {
    case 'scalar': return scalarValue(f.scalar)
    case 'enum': return pick(f.enum.values).number
    case 'message': return randomMessage(f.message, depth + 1)
    case 'list': {
      const n = pick([0, 0, 1, 3])
      return Array.from({ length: n }, () => f.listKind === 'message' ? randomMessage(f.message, depth + 1) : f.listKind === 'enum' ? pick(f.enum.values).number : scalarValue(f.scalar))
    }
    case 'map': {
      const out: Record<string, unknown> = {}
      for (let i = pick([0, 1, 3]); i > 0; i--) out[pick(STRINGS.filter((s) => !s.includes('\ud800') && !s.includes('\udc00') && s !== '\ud83d'))] = f.mapKind === 'scalar' ? scalarValue(f.scalar) : undefined
      return out
    }
  }
}

/** A random initializer: each field set or left out; oneofs get one of their cases. */
function randomInit (schema: DescMessage, depth = 0): Record<string, unknown> {
  const init: Record<string, unknown> = {}
  if (depth > 3) return init
  for (const member of schema.members) {
    if (rnd() < 0.3) continue
    if (member.kind === 'oneof') {
      const f = pick(member.fields)
      init[member.localName] = { case: f.localName, value: fieldValue(f, depth) }
    } else {
      init[member.localName] = fieldValue(member, depth)
    }
  }
  return init
}

function randomMessage (schema: DescMessage, depth = 0): unknown {
  return create(schema, randomInit(schema, depth) as never)
}

/** protobuf-es's outcome: a value or the error it threw. */
function outcome (fn: () => unknown): { value?: unknown, threw?: true } {
  try { return { value: fn() } } catch { return { threw: true } }
}

function expectSameEncode (schema: DescMessage, value: unknown): Uint8Array | undefined {
  const codec = messageCodec(schema)
  // As the node hands values over: a message (create's test: a string $typeName) as it is, an
  // initializer through create().
  const ref = outcome(() => toBinary(schema, typeof (value as { $typeName?: unknown } | null | undefined)?.$typeName === 'string' ? value as never : create(schema, (value ?? undefined) as never)))
  const ours = outcome(() => codec.encode(value))
  if (ref.threw === true) { expect(ours.threw).toBe(true); return undefined }
  expect(ours.threw).toBeUndefined()
  expect(Buffer.isBuffer(ours.value)).toBe(true)
  expect(Buffer.from(ours.value as Buffer).toString('hex')).toBe(Buffer.from(ref.value as Uint8Array).toString('hex'))
  return ref.value as Uint8Array
}

function expectSameDecode (schema: DescMessage, bytes: Uint8Array): void {
  const ref = outcome(() => fromBinary(schema, bytes))
  const ours = outcome(() => messageCodec(schema).decode(bytes))
  if (ref.threw === true) { expect(ours.threw).toBe(true); return }
  expect(ours.threw).toBeUndefined()
  expect(ours.value).toStrictEqual(ref.value)
}

const all = [...projectSchemas, testFile.All]

describe('compiled protobuf codec', () => {
  it('covers every message type of proto/, each with compiled fast paths', () => {
    expect(projectSchemas.length).toBeGreaterThan(40)
    for (const s of projectSchemas) {
      expect(s.typeName.startsWith('phase.')).toBe(true)
      expect(messageCodec(s).compiled).toBe(true)
    }
    expect(messageCodec(testFile.All).compiled).toBe(true)
    expect(messageCodec(testFile.Opt).compiled).toBe(false)
    expect(messageCodec(StructSchema).compiled).toBe(false)
  })

  it('encodes every message type byte for byte as toBinary, from messages and from plain initializers', () => {
    for (const schema of all) {
      for (let i = 0; i < 60; i++) {
        const init = randomInit(schema)
        expectSameEncode(schema, create(schema, init as never))
        expectSameEncode(schema, init)
      }
      expectSameEncode(schema, create(schema))
      expectSameEncode(schema, {})
      // The fast path did the work: protobuf-es only for what it alone may decide (floats
      // out of float32's range in the test file).
      if (schema !== testFile.All) expect(messageCodec(schema).fallbacks.encode).toBe(0)
    }
  })

  it('decodes what toBinary wrote as fromBinary does, from a Uint8Array and from a Buffer', () => {
    for (const schema of all) {
      for (let i = 0; i < 60; i++) {
        const bytes = toBinary(schema, randomMessage(schema) as never)
        expectSameDecode(schema, bytes)
        expectSameDecode(schema, Buffer.from(bytes))
        const decoded = messageCodec(schema).decode(bytes)
        // Bytes fields are views of the input, as protobuf-es's are: no copy of a module.
        for (const f of schema.fields) {
          if (f.fieldKind === 'scalar' && f.scalar === ScalarType.BYTES && f.oneof === undefined && decoded[f.localName].byteLength > 0) {
            expect(decoded[f.localName].buffer).toBe(bytes.buffer)
          }
        }
      }
      expectSameDecode(schema, new Uint8Array(0))
      // A plain Uint8Array view at an offset into a larger buffer (grpc-js hands out views).
      const inner = toBinary(schema, randomMessage(schema) as never)
      const outer = new Uint8Array(inner.byteLength + 13)
      outer.set(inner, 7)
      expectSameDecode(schema, outer.subarray(7, 7 + inner.byteLength))
      expect(messageCodec(schema).fallbacks.decode).toBe(0)
    }
  })

  it('gives damaged, truncated and non-canonical bytes the outcome fromBinary gives them', () => {
    for (const schema of all) {
      for (let i = 0; i < 80; i++) {
        const bytes = Buffer.from(toBinary(schema, randomMessage(schema) as never))
        if (bytes.length === 0) continue
        const flipped = Buffer.from(bytes)
        const at = Math.floor(rnd() * bytes.length)
        flipped[at] = flipped[at]! ^ (1 << Math.floor(rnd() * 8))
        expectSameDecode(schema, flipped)
        expectSameDecode(schema, bytes.subarray(0, Math.floor(rnd() * bytes.length)))
        // Unknown fields (kept by protobuf-es in $unknown), and the message twice (merged).
        expectSameDecode(schema, Buffer.concat([bytes, Buffer.from([0xf8, 0xff, 0xff, 0x07, 0x01])]))
        expectSameDecode(schema, Buffer.concat([bytes, bytes]))
        expectSameDecode(schema, new Uint8Array(randomBytes(1 + Math.floor(rnd() * 24))))
      }
    }
  })

  it('leaves to protobuf-es what is outside the fast paths, with its results', () => {
    const all = testFile.All
    // Unpacked repeated numbers (field 105, int32, as varints), a string field sent as a varint,
    // a map entry with its value before its key, invalid UTF-8, and a field given twice.
    const cases = [
      [0xa8, 0x06, 0x05, 0xa8, 0x06, 0x07],
      [0x48, 0x05],
      [0xe2, 0x0c, 0x06, 0x12, 0x01, 0x62, 0x0a, 0x01, 0x61],
      [0xe2, 0x0c, 0x06, 0x0a, 0x01, 0x61, 0x0a, 0x01, 0x62],
      [0x4a, 0x02, 0xc3, 0x28],
      [0x4a, 0x01, 0x61, 0x4a, 0x01, 0x62],
      [0xd2, 0x0c, 0x02, 0x08, 0x01, 0xd2, 0x0c, 0x02, 0x10, 0x02],
      // Tags longer than 5 bytes or 32 bits, which protobuf-es refuses (from review: read as
      // the field they named).
      [0x8a, 0x80, 0x80, 0x80, 0x10, 0x03, 0x61, 0x62, 0x63],
      [0x8a, 0x80, 0x80, 0x80, 0x80, 0x00, 0x03, 0x61, 0x62, 0x63],
      [0xd2, 0x0c, 0x06, 0xca, 0x80, 0x80, 0x80, 0x00, 0x00],
      // A varint longer than ten bytes, and one cut short.
      [0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      [0x28, 0xff, 0xff]
    ]
    for (const c of cases) expectSameDecode(all, new Uint8Array(c))
    // Nested past the codec's own depth: protobuf-es's recursion limit decides.
    let deep: Uint8Array = new Uint8Array(0)
    for (let i = 0; i < 120; i++) deep = Buffer.concat([Buffer.from([0xd2, 0x0c]), varint(deep.length), deep])
    expectSameDecode(all, deep)
    // Values protobuf-es coerces or refuses: a number in a 64-bit field, a string in a number
    // field, a float out of range, a message of another type, unknown fields kept from a decode.
    for (const value of [{ u64: 5 }, { i32: '7' }, { i32: 2 ** 31 }, { u32: -1 }, { f: 1e39 }, { s: 5 }, { by: 'text' }, { u64: -1n }, { i64: 2n ** 63n }, { child: create(StringValueSchema, { value: 'x' }) }]) {
      expectSameEncode(all, value)
      expectSameEncode(all, outcome(() => create(all, value as never)).value ?? value)
    }
    // A oneof case without a value, arrays where messages go, odd $typeName and $unknown
    // (from review: some of these were encoded as if absent).
    for (const value of [{ pick: { case: 'oS', value: undefined } }, { pick: { case: 'oAll', value: undefined } }, { pick: { case: 'oAll', value: null } }, { pick: { case: 'oU64', value: undefined } }, { pick: { case: 'oAll', value: [] } }, { child: [] }, { kids: [[]] }, { kids: [null] }, { $typeName: null, i32: 1 }, { $typeName: 5, i32: 1 }, { $unknown: null, i32: 1 }, [], undefined, null]) {
      expectSameEncode(all, value)
    }
    // A created message is encoded as it is: toBinary fills in and converts nothing.
    for (const change of [{ s: undefined }, { b: undefined }, { d: undefined }, { i32: undefined }, { color: undefined }, { by: undefined }, { rS: undefined }, { labels: null }, { pick: undefined }, { child: null }, { child: { i32: 1 } }, { kids: [{ i32: 1 }] }, { $unknown: null }, { $unknown: [] }]) {
      const message = Object.assign(create(all, { i32: 3, child: { s: 'x' } } as never), change)
      expectSameEncode(all, message)
      expectSameEncode(all, { child: message })
    }
    // A value that changes between the sizing and the writing pass is refused, never sent short.
    let reads = 0
    const shifty = { get u32 () { reads++; return reads === 1 ? 0 : 5 } }
    expect(() => messageCodec(all).encode(shifty)).toThrow(/changed while it was encoded/)
    const withUnknown = fromBinary(all, new Uint8Array([0xf8, 0xff, 0xff, 0x07, 0x01, 0x28, 0x01]))
    expect(withUnknown.$unknown).toBeDefined()
    expectSameEncode(all, withUnknown)
    // Explicit presence and well-known types are protobuf-es's alone.
    for (const schema of [testFile.Opt, StructSchema]) {
      expectSameEncode(schema, create(schema))
      expectSameDecode(schema, toBinary(schema, create(schema)))
    }
    expectSameEncode(testFile.Opt, { n: 0 })
    expectSameDecode(testFile.Opt, new Uint8Array([0x08, 0x00]))
  })
})

function varint (n: number): Buffer {
  const out: number[] = []
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return Buffer.from(out)
}
