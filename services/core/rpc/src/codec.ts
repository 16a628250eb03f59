/**
 * Protobuf binary encoding of the node's messages, compiled per message type from its protobuf-es
 * descriptor into straight-line JavaScript: one pass sizes the message, one writes it into a
 * single Buffer; decoding reads fields by number into the object `fromBinary` would make.
 * protobuf-es's reflective `toBinary`/`fromBinary` took 17-32 µs a message inside the node's
 * processes (issue 11: ~0.25 ms of every local job, six messages each way); these take a few.
 *
 * It gives the same results as protobuf-es by construction, not by re-implementing its corners:
 * the fast paths cover proto3 messages as this project writes them (scalars with implicit
 * presence, enums, nested messages, oneofs, repeated fields, maps with scalar values) and canonical
 * wire data; everything else goes to protobuf-es itself. A message type using anything outside
 * (proto2, explicit presence of scalars, groups, well-known wrapper types, 64-bit fields as
 * strings, maps of messages or non-string keys) always does; a value that is not plainly of its
 * field's type (a number in a 64-bit field, unknown fields kept from a decode) is encoded by
 * `toBinary`; bytes with anything but the canonical form (unknown fields, a field given twice
 * where protobuf-es would merge, unpacked repeated numbers, a wire type its field does not
 * use, invalid UTF-8, tags past 32 bits, malformed data) are decoded by `fromBinary`, which
 * also throws where it would have thrown. test/core/codec.test.ts compares both on every message
 * type of proto/ with random and adversarial values.
 */
import { create, fromBinary, toBinary, ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf'

export interface MessageCodec {
  /** The message's bytes (a plain initializer object is accepted as `create` would take it). */
  encode: (value: unknown) => Buffer
  /** The message `fromBinary` would return for these bytes; throws where it throws. */
  decode: (bytes: Uint8Array) => any
  /** Whether the message type has compiled fast paths (else it is protobuf-es throughout). */
  readonly compiled: boolean
  /** Values and byte strings handed to protobuf-es by a compiled codec. */
  readonly fallbacks: { encode: number, decode: number }
}

const codecs = new WeakMap<DescMessage, MessageCodec>()

/** The compiled codec of one message type (compiled once, on first use). */
export function messageCodec (schema: DescMessage): MessageCodec {
  let codec = codecs.get(schema)
  if (codec === undefined) {
    codec = compile(schema) ?? reference(schema)
    codecs.set(schema, codec)
  }
  return codec
}

/** protobuf-es itself. */
function reference (schema: DescMessage): MessageCodec {
  return {
    compiled: false,
    fallbacks: { encode: 0, decode: 0 },
    // A message of another type is refused by toBinary, as before; an initializer is created first.
    // (A handler that answered nothing gets the empty message, as create(schema, undefined) makes.)
    encode: (value) => asBuffer(toBinary(schema, typeof (value as { $typeName?: unknown } | null | undefined)?.$typeName === 'string' ? value as never : create(schema, (value ?? undefined) as never))),
    decode: (bytes) => fromBinary(schema, bytes)
  }
}

/** The same bytes as a Buffer, without a copy. */
export function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

const EDITION_PROTO3 = 999
const IMPLICIT = 2

/** Floats are copied through typed arrays in the host's byte order; the wire's is little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Whether every message reachable from `schema` is within the fast paths (see the header). */
function supported (schema: DescMessage, seen = new Set<DescMessage>()): boolean {
  if (!LITTLE_ENDIAN) return false
  if (seen.has(schema)) return true
  seen.add(schema)
  if (schema.file.edition !== EDITION_PROTO3 || schema.typeName.startsWith('google.protobuf.')) return false
  for (const f of schema.fields) {
    // Strings are read as protobuf-es reads proto3 strings: UTF-8 checked.
    if (!f.utf8Validation && (f.fieldKind === 'scalar' || f.fieldKind === 'list' || f.fieldKind === 'map') && (f.scalar === ScalarType.STRING || (f.fieldKind === 'map' && f.mapKey === ScalarType.STRING))) return false
    switch (f.fieldKind) {
      case 'scalar':
        if (f.longAsString || (f.oneof === undefined && f.presence !== IMPLICIT)) return false
        break
      case 'enum':
        if (!f.enum.open || (f.oneof === undefined && f.presence !== IMPLICIT)) return false
        break
      case 'message':
        if (f.delimitedEncoding || !supported(f.message, seen)) return false
        break
      case 'list':
        if (f.listKind === 'message' && (f.delimitedEncoding || !supported(f.message, seen))) return false
        if (f.listKind === 'scalar' && f.longAsString) return false
        break
      case 'map':
        if (f.mapKey !== ScalarType.STRING || f.mapKind !== 'scalar') return false
        break
    }
  }
  return true
}

/** Thrown inside the compiled code to hand a message to protobuf-es. */
class Fallback extends Error {}

/** Scalar types by wire type: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit. */
function wireTypeOf (t: ScalarType): number {
  switch (t) {
    case ScalarType.DOUBLE: case ScalarType.FIXED64: case ScalarType.SFIXED64: return 1
    case ScalarType.FLOAT: case ScalarType.FIXED32: case ScalarType.SFIXED32: return 5
    case ScalarType.STRING: case ScalarType.BYTES: return 2
    default: return 0
  }
}

function varintBytes (n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return out
}

/** Source of: the tag's bytes written at p (they are constants). */
function tagCode (no: number, wt: number): { size: number, write: string } {
  const bytes = varintBytes(((no << 3) | wt) >>> 0)
  return { size: bytes.length, write: bytes.map((b) => `b[p++]=${b};`).join('') }
}

const q = (s: string): string => JSON.stringify(s)

/** Buffer's own latin1 decoder (what `buf.toString('latin1', s, e)` runs); takes any Uint8Array. */
const nativeLatin1 = (Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice
/** Not in Node's documented API: without it, the codes as one call's arguments (also one flat string). */
const latin1Slice: (this: Uint8Array, start: number, end: number) => string = typeof nativeLatin1 === 'function'
  ? nativeLatin1
  : function (this: Uint8Array, start: number, end: number) { return String.fromCharCode.apply(null, this.subarray(start, end) as unknown as number[]) }

/** The runtime the compiled code calls (kept small and monomorphic). */
const rt = (() => {
  const f64 = new Float64Array(1)
  const f32 = new Float32Array(1)
  const u8of64 = new Uint8Array(f64.buffer)
  const u8of32 = new Uint8Array(f32.buffer)
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  const M32 = 0xffffffffn
  return {
    Fallback,
    /** UTF-8 length of a string (lone surrogates count as U+FFFD, as the encoders write them). */
    utf8Len (s: string): number {
      const n = s.length
      if (n > 64) return Buffer.byteLength(s, 'utf8')
      let len = n
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c < 0x80) continue
        if (c < 0x800) { len += 1; continue }
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
          const d = s.charCodeAt(i + 1)
          if (d >= 0xdc00 && d <= 0xdfff) { len += 2; i++; continue }
        }
        len += 2
      }
      return len
    },
    /** Writes a string of known UTF-8 length `len` at p; returns the new position. */
    writeStr (b: Buffer, p: number, s: string, len: number): number {
      if (len === s.length) {
        for (let i = 0; i < len; i++) b[p + i] = s.charCodeAt(i)
        return p + len
      }
      return p + b.write(s, p, len, 'utf8')
    },
    varSize (n: number): number {
      return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5
    },
    writeVar (b: Buffer, p: number, n: number): number {
      while (n > 0x7f) { b[p++] = (n & 0x7f) | 0x80; n >>>= 7 }
      b[p++] = n
      return p
    },
    /** A 64-bit unsigned value's varint size (v already in [0, 2^64)). */
    var64Size (v: bigint): number {
      if (v <= M32) return rt.varSize(Number(v))
      let hi = Number(v >> 32n)
      let n = 5
      hi >>>= 3
      while (hi > 0) { n++; hi >>>= 7 }
      return n
    },
    writeVar64 (b: Buffer, p: number, v: bigint): number {
      if (v <= M32) return rt.writeVar(b, p, Number(v))
      let lo = Number(v & M32)
      let hi = Number(v >> 32n)
      for (let i = 0; i < 4; i++) { b[p++] = (lo & 0x7f) | 0x80; lo >>>= 7 }
      // Bits 28-31 of lo and the first 3 of hi.
      let byte = lo | ((hi & 0x7) << 4)
      hi >>>= 3
      if (hi === 0) { b[p++] = byte; return p }
      b[p++] = byte | 0x80
      while (hi > 0x7f) { b[p++] = (hi & 0x7f) | 0x80; hi >>>= 7 }
      b[p++] = hi
      return p
    },
    writeF64 (b: Buffer, p: number, v: number): number {
      f64[0] = v
      for (let i = 0; i < 8; i++) b[p + i] = u8of64[i]!
      return p + 8
    },
    writeF32 (b: Buffer, p: number, v: number): number {
      f32[0] = v
      for (let i = 0; i < 4; i++) b[p + i] = u8of32[i]!
      return p + 4
    },
    writeFixed32 (b: Buffer, p: number, v: number): number {
      b[p] = v & 0xff; b[p + 1] = (v >>> 8) & 0xff; b[p + 2] = (v >>> 16) & 0xff; b[p + 3] = (v >>> 24) & 0xff
      return p + 4
    },
    writeFixed64 (b: Buffer, p: number, v: bigint): number {
      rt.writeFixed32(b, p, Number(v & M32))
      return rt.writeFixed32(b, p + 4, Number(v >> 32n))
    },
    // Decoding: a cursor over one Uint8Array.
    buf: new Uint8Array(0) as Uint8Array,
    pos: 0,
    /** A varint of at most 32 significant bits, as protobuf-es reads uint32 (low 32 bits kept). */
    readVar (): number {
      const b = rt.buf
      let p = rt.pos
      let x = b[p++]!
      if (x < 0x80) { rt.pos = p; return x }
      x &= 0x7f
      for (let shift = 7; shift < 35; shift += 7) {
        if (p >= b.length) throw new Fallback()
        const c = b[p++]!
        x |= (c & 0x7f) << shift
        if (c < 0x80) { rt.pos = p; return x >>> 0 }
      }
      // Longer varints (negative int32s are sign-extended to 10 bytes): the high bytes only.
      for (let i = 0; i < 5; i++) {
        if (p >= b.length) throw new Fallback()
        if (b[p++]! < 0x80) { rt.pos = p; return x >>> 0 }
      }
      throw new Fallback()
    },
    /** A tag: at most 5 bytes and 32 bits, else protobuf-es's reader refuses it (BinaryReader.tag). */
    readTag (): number {
      const start = rt.pos
      const tag = rt.readVar()
      const length = rt.pos - start
      if (length > 5 || (length === 5 && rt.buf[start + 4]! > 0x0f)) throw new Fallback()
      return tag
    },
    /** An unsigned 64-bit varint as a bigint. */
    readVar64 (): bigint {
      const b = rt.buf
      let p = rt.pos
      let lo = 0
      let hi = 0
      let shift = 0
      let c = 0
      for (; shift < 28; shift += 7) {
        if (p >= b.length) throw new Fallback()
        c = b[p++]!
        lo |= (c & 0x7f) << shift
        if (c < 0x80) { rt.pos = p; return BigInt(lo >>> 0) }
      }
      if (p >= b.length) throw new Fallback()
      c = b[p++]!
      lo |= (c & 0x0f) << 28
      hi = (c & 0x7f) >> 4
      if (c >= 0x80) {
        for (shift = 3; shift < 32; shift += 7) {
          if (p >= b.length) throw new Fallback()
          c = b[p++]!
          hi |= (c & 0x7f) << shift
          if (c < 0x80) break
        }
        if (c >= 0x80) throw new Fallback()
      }
      rt.pos = p
      return hi === 0 ? BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)
    },
    readFixed32 (): number {
      const b = rt.buf
      const p = rt.pos
      if (p + 4 > b.length) throw new Fallback()
      rt.pos = p + 4
      return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
    },
    readFixed64 (): bigint {
      const lo = rt.readFixed32()
      const hi = rt.readFixed32()
      return (BigInt(hi) << 32n) | BigInt(lo)
    },
    /** Copies the next bytes into `into` (a float's bytes, little-endian as the wire's). */
    take (into: Uint8Array): void {
      const b = rt.buf
      const p = rt.pos
      const n = into.length
      if (p + n > b.length) throw new Fallback()
      for (let i = 0; i < n; i++) into[i] = b[p + i]!
      rt.pos = p + n
    },
    readF64 (): number { rt.take(u8of64); return f64[0]! },
    readF32 (): number { rt.take(u8of32); return f32[0]! },
    /** The end of a length-delimited record starting at the cursor (its length read). */
    delimited (end: number): number {
      const len = rt.readVar()
      const e = rt.pos + len
      if (e > end) throw new Fallback()
      return e
    },
    readBytes (end: number): Uint8Array {
      const e = rt.delimited(end)
      const v = rt.buf.subarray(rt.pos, e)
      rt.pos = e
      return v
    },
    /** A proto3 string: UTF-8 checked as protobuf-es checks it (fatal), else the fallback throws. */
    readStr (end: number): string {
      const e = rt.delimited(end)
      const b = rt.buf
      let p = rt.pos
      if (e - p <= 32) {
        // ASCII (where latin1 is UTF-8): one flat string (built char by char, V8 would keep a
        // chain of cons strings past 13 characters for as long as the string lives).
        let i = p
        while (i < e && b[i]! < 0x80) i++
        if (i === e) {
          rt.pos = e
          return latin1Slice.call(b, p, e)
        }
      }
      let s: string
      try { s = strict.decode(b.subarray(p, e)) } catch { throw new Fallback() }
      rt.pos = e
      return s
    }
  }
})()

/** Zero-value source for a singular scalar or enum field. */
function zeroOf (f: DescField): string {
  if (f.fieldKind === 'enum') return String(f.enum.values[0]!.number)
  if (f.fieldKind !== 'scalar') throw new Error('not a scalar')
  return zeroOfScalar(f.scalar)
}

/**
 * Source checking a scalar's value (anything protobuf-es would coerce or refuse falls back) and
 * adding its size (without tag) to `n`. Strings push their UTF-8 length on S.
 */
function scalarSize (t: ScalarType, v: string): string {
  switch (t) {
    case ScalarType.STRING: return `if(typeof ${v}!=="string")throw new F();{const l=R.utf8Len(${v});S.push(l);n+=R.varSize(l)+l;}`
    case ScalarType.BYTES: return `if(!(${v} instanceof Uint8Array))throw new F();n+=R.varSize(${v}.byteLength)+${v}.byteLength;`
    case ScalarType.BOOL: return `if(typeof ${v}!=="boolean")throw new F();n+=1;`
    case ScalarType.DOUBLE: case ScalarType.FIXED64: case ScalarType.SFIXED64: return `${checkOf(t, v)}n+=8;`
    case ScalarType.FLOAT: case ScalarType.FIXED32: case ScalarType.SFIXED32: return `${checkOf(t, v)}n+=4;`
    case ScalarType.INT32: return `${checkOf(t, v)}n+=${v}<0?10:R.varSize(${v});`
    case ScalarType.UINT32: return `${checkOf(t, v)}n+=R.varSize(${v});`
    case ScalarType.SINT32: return `${checkOf(t, v)}n+=R.varSize(((${v}<<1)^(${v}>>31))>>>0);`
    case ScalarType.UINT64: return `${checkOf(t, v)}n+=R.var64Size(${v});`
    case ScalarType.INT64: return `${checkOf(t, v)}n+=R.var64Size(BigInt.asUintN(64,${v}));`
    case ScalarType.SINT64: return `${checkOf(t, v)}n+=R.var64Size(BigInt.asUintN(64,(${v}<<1n)^(${v}>>63n)));`
  }
  throw new Error(`scalar type ${t}`)
}

function checkOf (t: ScalarType, v: string): string {
  switch (t) {
    case ScalarType.DOUBLE: return `if(typeof ${v}!=="number")throw new F();`
    // protobuf-es refuses finite values outside float32's range.
    case ScalarType.FLOAT: return `if(typeof ${v}!=="number"||(Number.isFinite(${v})&&Math.abs(${v})>3.4028234663852886e38))throw new F();`
    case ScalarType.INT32: case ScalarType.SINT32: case ScalarType.SFIXED32: return `if(typeof ${v}!=="number"||(${v}|0)!==${v})throw new F();`
    case ScalarType.UINT32: case ScalarType.FIXED32: return `if(typeof ${v}!=="number"||(${v}>>>0)!==${v})throw new F();`
    case ScalarType.UINT64: case ScalarType.FIXED64: return `if(typeof ${v}!=="bigint"||BigInt.asUintN(64,${v})!==${v})throw new F();`
    case ScalarType.INT64: case ScalarType.SINT64: case ScalarType.SFIXED64: return `if(typeof ${v}!=="bigint"||BigInt.asIntN(64,${v})!==${v})throw new F();`
  }
  return ''
}

/** Source writing a scalar (already checked by the size pass) at p. */
function scalarWrite (t: ScalarType, v: string): string {
  switch (t) {
    case ScalarType.STRING: return `{const l=S[si++];p=R.writeVar(b,p,l);p=R.writeStr(b,p,${v},l);}`
    case ScalarType.BYTES: return `p=R.writeVar(b,p,${v}.byteLength);b.set(${v},p);p+=${v}.byteLength;`
    case ScalarType.BOOL: return `b[p++]=${v}?1:0;`
    case ScalarType.DOUBLE: return `p=R.writeF64(b,p,${v});`
    case ScalarType.FLOAT: return `p=R.writeF32(b,p,${v});`
    case ScalarType.FIXED32: case ScalarType.SFIXED32: return `p=R.writeFixed32(b,p,${v});`
    case ScalarType.FIXED64: return `p=R.writeFixed64(b,p,${v});`
    case ScalarType.SFIXED64: return `p=R.writeFixed64(b,p,BigInt.asUintN(64,${v}));`
    case ScalarType.INT32: return `p=${v}<0?R.writeVar64(b,p,BigInt.asUintN(64,BigInt(${v}))):R.writeVar(b,p,${v});`
    case ScalarType.UINT32: return `p=R.writeVar(b,p,${v});`
    case ScalarType.SINT32: return `p=R.writeVar(b,p,((${v}<<1)^(${v}>>31))>>>0);`
    case ScalarType.UINT64: return `p=R.writeVar64(b,p,${v});`
    case ScalarType.INT64: return `p=R.writeVar64(b,p,BigInt.asUintN(64,${v}));`
    case ScalarType.SINT64: return `p=R.writeVar64(b,p,BigInt.asUintN(64,(${v}<<1n)^(${v}>>63n)));`
  }
  throw new Error(`scalar type ${t}`)
}

/** Source reading a scalar at the cursor (record ends at `e`, message at `end`). */
function scalarRead (t: ScalarType): string {
  switch (t) {
    case ScalarType.STRING: return 'R.readStr(end)'
    case ScalarType.BYTES: return 'R.readBytes(end)'
    case ScalarType.BOOL: return 'R.readVar64()!==0n'
    case ScalarType.DOUBLE: return 'R.readF64()'
    case ScalarType.FLOAT: return 'R.readF32()'
    case ScalarType.FIXED32: return 'R.readFixed32()'
    case ScalarType.SFIXED32: return '(R.readFixed32()|0)'
    case ScalarType.FIXED64: return 'R.readFixed64()'
    case ScalarType.SFIXED64: return 'BigInt.asIntN(64,R.readFixed64())'
    case ScalarType.INT32: return '(R.readVar()|0)'
    case ScalarType.UINT32: return 'R.readVar()'
    case ScalarType.SINT32: return '((x)=>((x>>>1)^-(x&1)))(R.readVar())'
    case ScalarType.UINT64: return 'R.readVar64()'
    case ScalarType.INT64: return 'BigInt.asIntN(64,R.readVar64())'
    case ScalarType.SINT64: return '((x)=>(x>>1n)^-(x&1n))(R.readVar64())'
  }
  throw new Error(`scalar type ${t}`)
}

/** Compiles encode and decode for `schema` and every message type it reaches. */
function compile (schema: DescMessage): MessageCodec | undefined {
  if (!supported(schema)) return undefined
  const ids = new Map<DescMessage, number>()
  const order: DescMessage[] = []
  const visit = (m: DescMessage): void => {
    if (ids.has(m)) return
    ids.set(m, order.length)
    order.push(m)
    for (const f of m.fields) {
      if (f.fieldKind === 'message') visit(f.message)
      if (f.fieldKind === 'list' && f.listKind === 'message') visit(f.message)
    }
  }
  visit(schema)
  const src: string[] = ['"use strict";']
  for (const m of order) src.push(sizeFn(m, ids), writeFn(m, ids), readFn(m, ids))
  src.push('return {size:size0,write:write0,read:read0};')
  const fns = new Function('R', 'F', src.join('\n'))(rt, Fallback) as {
    size: (m: any, S: number[]) => number
    write: (m: any, b: Buffer, p: number, S: number[], si: number) => [number, number]
    read: (end: number, depth: number) => any
  }
  const ref = reference(schema)
  const fallbacks = { encode: 0, decode: 0 }
  return {
    compiled: true,
    fallbacks,
    encode (value) {
      const S: number[] = []
      let n: number
      try { n = fns.size(value, S) } catch (err) {
        if (err instanceof Fallback) { fallbacks.encode++; return ref.encode(value) }
        throw err
      }
      // Its own memory, as toBinary's result had (allocUnsafe's shared 8 KiB slabs for small
      // messages left discovery ~5 MiB higher after load: .exp/mem-ab.ts, 2 runs each); every
      // byte is written by the pass below.
      const b = Buffer.allocUnsafeSlow(n)
      // The two passes read the same fields; a value that changed between them (a getter, a
      // Proxy) must not send bytes never written.
      const [end] = fns.write(value, b, 0, S, 0)
      if (end !== n) throw new Error(`${schema.typeName}: the message changed while it was encoded (${end} of ${n} bytes)`)
      return b
    },
    decode (bytes) {
      rt.buf = bytes
      rt.pos = 0
      try {
        return fns.read(bytes.byteLength, 0)
      } catch (err) {
        if (err instanceof Fallback) { fallbacks.decode++; return ref.decode(bytes) }
        throw err
      } finally {
        rt.buf = EMPTY
      }
    }
  }
}

const EMPTY = new Uint8Array(0)
/** Deeper nesting than this goes to protobuf-es (its recursion limit is 100). */
const MAX_DEPTH = 32

const sortedFields = (m: DescMessage): DescField[] => [...m.fields].sort((a, b) => a.number - b.number)

/** Source of a field's value in `m` (a oneof member's when its case is chosen), as both passes read it. */
function valueOf (f: DescField): string {
  return f.oneof !== undefined
    ? `(m[${q(f.oneof.localName)}]?.case===${q(f.localName)}?m[${q(f.oneof.localName)}].value:undefined)`
    : `m[${q(f.localName)}]`
}

/**
 * size<id>(m, S): the message's encoded length (without its own tag and length), pushing on S
 * the lengths its write pass needs in the order it needs them: each string's UTF-8 length, and
 * each nested message's length before that message's own entries.
 */
function sizeFn (m: DescMessage, ids: Map<DescMessage, number>): string {
  const id = ids.get(m)!
  const lines = [`function size${id}(m,S){`,
    `if(m===null||typeof m!=="object"||Array.isArray(m))throw new F();`,
    // A message (create's own test: a string $typeName) is encoded by toBinary as it is, unknown
    // fields too; an initializer as create() would make it (T: which of the two).
    'const T=typeof m.$typeName==="string";',
    `if(T&&(m.$typeName!==${q(m.typeName)}||(m.$unknown!==undefined&&!(Array.isArray(m.$unknown)&&m.$unknown.length===0))))throw new F();`,
    'let n=0,v;']
  // In a message every member holds a value of its kind (toBinary writes or refuses what it
  // finds); an initializer may leave any out. A oneof's chosen case holds a value.
  for (const o of m.oneofs) {
    const cases = o.fields.map((f) => `v.case===${q(f.localName)}`).join('||')
    lines.push(`v=m[${q(o.localName)}];if(T&&(v===null||typeof v!=="object"))throw new F();if(v!=null&&v.value==null&&(${cases}))throw new F();`)
  }
  for (const f of sortedFields(m)) {
    if (f.oneof !== undefined) {
      // Checked above, with its oneof.
    } else if (f.fieldKind === 'scalar' || f.fieldKind === 'enum') {
      lines.push(`if(T&&m[${q(f.localName)}]===undefined)throw new F();`)
    } else if (f.fieldKind === 'list' || f.fieldKind === 'map') {
      lines.push(`if(T&&m[${q(f.localName)}]==null)throw new F();`)
    } else {
      lines.push(`if(T&&m[${q(f.localName)}]===null)throw new F();`)
    }
    const get = valueOf(f)
    const wt = f.fieldKind === 'scalar' ? wireTypeOf(f.scalar) : f.fieldKind === 'enum' ? 0 : 2
    const tag = tagCode(f.number, wt).size
    if (f.fieldKind === 'scalar' || f.fieldKind === 'enum') {
      const t = f.fieldKind === 'enum' ? ScalarType.INT32 : f.scalar
      if (f.oneof !== undefined) {
        lines.push(`v=${get};if(v!==undefined){n+=${tag};${scalarSize(t, 'v')}}`)
      } else {
        lines.push(`v=${get};if(${presentCode(f, 'v')}){n+=${tag};${scalarSize(t, 'v')}}`)
      }
    } else if (f.fieldKind === 'message') {
      const c = ids.get(f.message)!
      lines.push(`v=${get};if(v!==undefined&&v!==null){if(T&&typeof v.$typeName!=="string")throw new F();const i=S.length;S.push(0);const l=size${c}(v,S);S[i]=l;n+=${tag}+R.varSize(l)+l;}`)
    } else if (f.fieldKind === 'list') {
      lines.push(`v=${get};if(v===undefined||v===null)v=[];if(!Array.isArray(v))throw new F();`)
      if (f.listKind === 'message') {
        const c = ids.get(f.message)!
        lines.push(`for(let k=0;k<v.length;k++){if(T&&typeof v[k]?.$typeName!=="string")throw new F();const i=S.length;S.push(0);const l=size${c}(v[k],S);S[i]=l;n+=${tag}+R.varSize(l)+l;}`)
      } else {
        const t = f.listKind === 'enum' ? ScalarType.INT32 : f.scalar
        if (f.packed && wireTypeOf(t) !== 2) {
          lines.push(`if(v.length>0){const o=n;n=0;for(let k=0;k<v.length;k++){const x=v[k];${scalarSize(t, 'x')}}S.push(n);n=o+${tagCode(f.number, 2).size}+R.varSize(S[S.length-1])+S[S.length-1];}`)
        } else {
          lines.push(`for(let k=0;k<v.length;k++){const x=v[k];n+=${tagCode(f.number, wireTypeOf(t)).size};${scalarSize(t, 'x')}}`)
        }
      }
    } else {
      // map<string, scalar>: entries of key (1) and value (2), both always written.
      const t = f.scalar!
      lines.push(`v=${get};if(v===undefined||v===null)v={};if(typeof v!=="object")throw new F();`,
        `for(const key of Object.keys(v)){const x=v[key];const i=S.length;S.push(0);const o=n;n=1;${scalarSize(ScalarType.STRING, 'key')}n+=${tagCode(2, wireTypeOf(t)).size};${scalarSize(t, 'x')}S[i]=n;n=o+${tag}+R.varSize(S[i])+S[i];}`)
    }
  }
  lines.push('return n;}')
  return lines.join('\n')
}

/** Source of: a field with implicit presence holds other than its zero value (as toBinary decides). */
function presentCode (f: DescField, v: string): string {
  if (f.fieldKind === 'enum') return `${v}!==undefined&&${v}!==${f.enum.values[0]!.number}`
  if (f.fieldKind !== 'scalar') throw new Error('not a scalar')
  switch (f.scalar) {
    case ScalarType.BOOL: return `${v}!==undefined&&${v}!==false`
    case ScalarType.STRING: return `${v}!==undefined&&${v}!==""`
    case ScalarType.BYTES: return `${v}!==undefined&&(!(${v} instanceof Uint8Array)||${v}.byteLength>0)`
    case ScalarType.DOUBLE: case ScalarType.FLOAT: return `${v}!==undefined&&!Object.is(${v},0)`
    default: return `${v}!==undefined&&${v}!=0`
  }
}

/** write<id>(m, b, p, S, si): writes the entries the size pass sized; returns [p, si]. */
function writeFn (m: DescMessage, ids: Map<DescMessage, number>): string {
  const id = ids.get(m)!
  const lines = [`function write${id}(m,b,p,S,si){`, 'let v,r;']
  for (const f of sortedFields(m)) {
    const get = valueOf(f)
    if (f.fieldKind === 'scalar' || f.fieldKind === 'enum') {
      const t = f.fieldKind === 'enum' ? ScalarType.INT32 : f.scalar
      const cond = f.oneof !== undefined ? 'v!==undefined' : presentCode(f, 'v')
      lines.push(`v=${get};if(${cond}){${tagCode(f.number, wireTypeOf(t)).write}${scalarWrite(t, 'v')}}`)
    } else if (f.fieldKind === 'message') {
      const c = ids.get(f.message)!
      lines.push(`v=${get};if(v!==undefined&&v!==null){${tagCode(f.number, 2).write}p=R.writeVar(b,p,S[si++]);r=write${c}(v,b,p,S,si);p=r[0];si=r[1];}`)
    } else if (f.fieldKind === 'list') {
      lines.push(`v=${get};if(v===undefined||v===null)v=[];`)
      if (f.listKind === 'message') {
        const c = ids.get(f.message)!
        lines.push(`for(let k=0;k<v.length;k++){${tagCode(f.number, 2).write}p=R.writeVar(b,p,S[si++]);r=write${c}(v[k],b,p,S,si);p=r[0];si=r[1];}`)
      } else {
        const t = f.listKind === 'enum' ? ScalarType.INT32 : f.scalar
        if (f.packed && wireTypeOf(t) !== 2) {
          // The packed length was pushed after the items' own entries (none for numbers).
          lines.push(`if(v.length>0){${tagCode(f.number, 2).write}p=R.writeVar(b,p,S[si++]);for(let k=0;k<v.length;k++){const x=v[k];${scalarWrite(t, 'x')}}}`)
        } else {
          lines.push(`for(let k=0;k<v.length;k++){const x=v[k];${tagCode(f.number, wireTypeOf(t)).write}${scalarWrite(t, 'x')}}`)
        }
      }
    } else {
      const t = f.scalar!
      lines.push(`v=${get};if(v===undefined||v===null)v={};`,
        `for(const key of Object.keys(v)){const x=v[key];${tagCode(f.number, 2).write}p=R.writeVar(b,p,S[si++]);${tagCode(1, 2).write}${scalarWrite(ScalarType.STRING, 'key')}${tagCode(2, wireTypeOf(t)).write}${scalarWrite(t, 'x')}}`)
    }
  }
  lines.push('return [p,si];}')
  return lines.join('\n')
}

/**
 * read<id>(end, depth): the message in [R.pos, end), as create() then fromBinary would build it.
 * Anything but the canonical form throws Fallback (see the header).
 */
function readFn (m: DescMessage, ids: Map<DescMessage, number>): string {
  const id = ids.get(m)!
  const init: string[] = [`$typeName:${q(m.typeName)}`]
  for (const member of m.members) {
    if (member.kind === 'oneof') { init.push(`${q(member.localName)}:{case:undefined}`); continue }
    const f = member
    if (f.fieldKind === 'list') init.push(`${q(f.localName)}:[]`)
    else if (f.fieldKind === 'map') init.push(`${q(f.localName)}:{}`)
    else if (f.fieldKind === 'scalar' || f.fieldKind === 'enum') init.push(`${q(f.localName)}:${zeroOf(f)}`)
    // Singular message fields are absent until read.
  }
  const lines = [`function read${id}(end,depth){`,
    `if(depth>${MAX_DEPTH})throw new F();`,
    `const m={${init.join(',')}};`,
    'while(R.pos<end){',
    'const tag=R.readTag();',
    'switch(tag){']
  for (const f of m.fields) {
    const set = (val: string): string => f.oneof !== undefined
      ? `m[${q(f.oneof.localName)}]={case:${q(f.localName)},value:${val}};`
      : `m[${q(f.localName)}]=${val};`
    const tagOf = (wt: number): number => ((f.number << 3) | wt) >>> 0
    if (f.fieldKind === 'scalar' || f.fieldKind === 'enum') {
      const t = f.fieldKind === 'enum' ? ScalarType.INT32 : f.scalar
      lines.push(`case ${tagOf(wireTypeOf(t))}:${set(scalarRead(t))}break;`)
    } else if (f.fieldKind === 'message') {
      const c = ids.get(f.message)!
      // Given twice, protobuf-es merges the two: left to it.
      const taken = f.oneof !== undefined ? `m[${q(f.oneof.localName)}].case!==undefined` : `m[${q(f.localName)}]!==undefined`
      lines.push(`case ${tagOf(2)}:{if(${taken})throw new F();const e=R.delimited(end);const x=read${c}(e,depth+1);if(R.pos!==e)throw new F();${set('x')}break;}`)
    } else if (f.fieldKind === 'list') {
      const get = `m[${q(f.localName)}]`
      if (f.listKind === 'message') {
        const c = ids.get(f.message)!
        lines.push(`case ${tagOf(2)}:{const e=R.delimited(end);const x=read${c}(e,depth+1);if(R.pos!==e)throw new F();${get}.push(x);break;}`)
      } else {
        const t = f.listKind === 'enum' ? ScalarType.INT32 : f.scalar
        if (wireTypeOf(t) === 2) {
          lines.push(`case ${tagOf(2)}:${get}.push(${scalarRead(t)});break;`)
        } else {
          lines.push(`case ${tagOf(2)}:{const e=R.delimited(end);const a=${get};while(R.pos<e)a.push(${scalarRead(t)});if(R.pos!==e)throw new F();break;}`)
        }
      }
    } else {
      // A canonical entry: key (1) then value (2), each once; any other shape goes to protobuf-es.
      const t = f.scalar!
      lines.push(`case ${tagOf(2)}:{const e=R.delimited(end);let k=${zeroOfScalar(ScalarType.STRING)},x=${zeroOfScalar(t)};{const end=e;`,
        'if(R.pos<end&&R.buf[R.pos]===10){R.pos++;k=R.readStr(end);}',
        `if(R.pos<end&&R.buf[R.pos]===${((2 << 3) | wireTypeOf(t))}){R.pos++;x=${scalarRead(t)};}`,
        `}if(R.pos!==e||Object.prototype.hasOwnProperty.call(m[${q(f.localName)}],k)||k==="__proto__")throw new F();m[${q(f.localName)}][k]=x;break;}`)
    }
  }
  lines.push('default:throw new F();}}', 'if(R.pos!==end)throw new F();', 'return m;}')
  return lines.join('\n')
}

function zeroOfScalar (t: ScalarType): string {
  switch (t) {
    case ScalarType.STRING: return '""'
    case ScalarType.BOOL: return 'false'
    case ScalarType.BYTES: return 'new Uint8Array(0)'
    case ScalarType.INT64: case ScalarType.UINT64: case ScalarType.SINT64: case ScalarType.FIXED64: case ScalarType.SFIXED64: return '0n'
    default: return '0'
  }
}
