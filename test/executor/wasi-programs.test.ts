/**
 * Ordinary programs run unmodified: a C program (wasi-libc) and a Rust program (std, wasm32-wasi)
 * read an input file from /in and write an output file under /out, through the real pool. Their
 * sources, build commands and built .wasm are in test/programs/; when the toolchain is on this
 * machine (Debian: clang lld wasi-libc libclang-rt-dev-wasm32 rustc libstd-rust-dev-wasm32) the
 * test rebuilds them and checks the build reproduces the committed bytes.
 * Also: stdio is not a terminal, so libc buffers stdout fully (printf speed, before and after).
 */
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createV8Runtime, type WasmRuntime, type WasmJob } from '../../services/executor/src/index.ts'
import { createWasiHost, ExitSignal } from '../../services/executor/src/wasi-host.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { figure } from '../helpers/figures.ts'

jest.setTimeout(180_000)
const DIR = join(ROOT, 'test/programs')
const MiB = 1024 * 1024
const text = (b: Uint8Array): string => new TextDecoder().decode(b)
const INPUT = new TextEncoder().encode('the quick brown fox\njumps over\nthe lazy dog\n')

/** Each program, its committed .wasm, and the exact command that builds it (run in its folder). */
const PROGRAMS = {
  c: { wasm: 'c/files.wasm', build: ['clang', ['--target=wasm32-wasi', '-O2', 'files.c', '-o']] },
  fsops: { wasm: 'c/fsops.wasm', build: ['clang', ['--target=wasm32-wasi', '-O2', 'fsops.c', '-o']] },
  printf: { wasm: 'c/printf.wasm', build: ['clang', ['--target=wasm32-wasi', '-O2', 'printf.c', '-o']] },
  rust: { wasm: 'rust/files.wasm', build: ['/usr/bin/rustc', ['--target', 'wasm32-wasi', '-C', 'opt-level=2', '-C', 'strip=symbols', 'files.rs', '-o']] }
} as const

function job (module: Uint8Array, args: string[]): WasmJob {
  return {
    jobId: 'sha256:' + '1'.repeat(64),
    moduleHash: contentHash(module),
    module,
    args,
    env: {},
    stdin: new TextEncoder().encode('from stdin'),
    inputs: [{ path: '/in/data.txt', data: INPUT }],
    limits: { memoryBytes: 64 * MiB, timeoutMs: 60_000, outputBytes: MiB }
  }
}

describe('ordinary WASI programs', () => {
  let runtime: WasmRuntime
  beforeAll(async () => {
    runtime = createV8Runtime({ workers: 1 })
    await runtime.start()
  })
  afterAll(async () => { await runtime.stop() })

  it('runs a C program (wasi-libc) that reads /in/data.txt and writes /out/sub/report.txt', async () => {
    const module = new Uint8Array(await readFile(join(DIR, PROGRAMS.c.wasm)))
    const r = await runtime.run(job(module, ['/in/data.txt', '/out/sub/report.txt']))
    expect(r.status).toBe('ok')
    expect(text(r.stdout)).toBe('/in/data.txt: 3 lines, 9 words, 44 bytes; wrote 88 bytes to /out/sub/report.txt\n')
    expect(text(r.stderr)).toBe('stdin is not a tty, stdout is not a tty\nwrite /in/data.txt: Capabilities insufficient\n')
    expect(r.outputs.map((o) => [o.path, text(o.data)])).toEqual([['/out/sub/report.txt',
      'lines 3 words 9 bytes 44 stdin "from stdin"\nthe lazy dog\njumps over\nthe quick brown fox\n']])
  })

  it('gives a C program the POSIX results it expects from open, lseek, stat, mkdir, rename, readdir, chdir, poll ...', async () => {
    const module = new Uint8Array(await readFile(join(DIR, PROGRAMS.fsops.wasm)))
    const r = await runtime.run(job(module, []))
    expect(r.status).toBe('ok')
    expect(text(r.stdout)).toBe(FSOPS_TRANSCRIPT)
    expect(r.outputs.map((o) => [o.path, text(o.data)])).toEqual([['/out/keep.txt', 'kept\n']])
  })

  it('runs a Rust program (std, wasm32-wasi) that reads /in/data.txt and writes /out/rust/report.txt', async () => {
    const module = new Uint8Array(await readFile(join(DIR, PROGRAMS.rust.wasm)))
    const r = await runtime.run(job(module, ['/in/data.txt', '/out/rust/report.txt']))
    expect(r.status).toBe('ok')
    expect(text(r.stdout)).toBe('/in/data.txt: 9 words; wrote 61 bytes to /out/rust/report.txt; folder holds ["report.txt"]\n')
    expect(text(r.stderr)).toBe('write /in/data.txt: Capabilities insufficient (os error 76)\n')
    expect(r.outputs.map((o) => [o.path, text(o.data)])).toEqual([['/out/rust/report.txt',
      '9 words, sorted:\nbrown\ndog\nfox\njumps\nlazy\nover\nquick\nthe\nthe\n']])
  })

  it('rebuilds each program from source to the committed bytes when the toolchain is here', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'phase-wasi-build-'))
    try {
      const rebuilt: string[] = []
      for (const [name, p] of Object.entries(PROGRAMS)) {
        const [cc, args] = p.build
        if (cc.startsWith('/') ? !existsSync(cc) : !onPath(cc)) continue
        const out = join(tmp, `${name}.wasm`)
        execFileSync(cc, [...args, out], { cwd: join(DIR, p.wasm, '..'), stdio: 'pipe' })
        expect(contentHash(await readFile(out))).toBe(contentHash(await readFile(join(DIR, p.wasm))))
        rebuilt.push(name)
      }
      figure('wasi programs', 'rebuilt from source, bytes identical', rebuilt.length === 0 ? 'none (no toolchain)' : rebuilt.join(', '))
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  })

  it('lets libc buffer stdout fully: stdio is not a terminal (printf of 100,000 lines)', async () => {
    const module = await WebAssembly.compile(await readFile(join(DIR, PROGRAMS.printf.wasm)))
    const run = (asTty: boolean): { ms: number, writes: number, bytes: number } => {
      const host = createWasiHost({ args: ['100000'], env: {}, stdin: new Uint8Array(), outputBytes: 16 * MiB }, WebAssembly.Module.imports(module).map((i) => i.name))
      let writes = 0
      const imports = { ...host.imports }
      const write = host.imports.fd_write!
      imports.fd_write = (...a: never[]) => { writes++; return write(...a) }
      if (asTty) {
        // What the host answered before: a character device without seek/tell, i.e. a terminal.
        const fdstat = host.imports.fd_fdstat_get!
        imports.fd_fdstat_get = (...a: never[]) => {
          const r = fdstat(...a)
          const [fd, ptr] = a as unknown as [number, number]
          if (r === 0 && fd <= 2) { const v = new DataView(memory.buffer); v.setUint8(ptr, 2); v.setBigUint64(ptr + 8, fd === 0 ? 2n : 64n, true) }
          return r
        }
      }
      const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: imports })
      const memory = instance.exports.memory as WebAssembly.Memory
      host.bindMemory(memory)
      const t = performance.now()
      try { (instance.exports._start as () => void)() } catch (err) { if (!(err instanceof ExitSignal)) throw err }
      return { ms: performance.now() - t, writes, bytes: host.stdout().byteLength }
    }
    const tty = run(true)
    const pipe = run(false)
    figure('wasi programs', 'printf 100,000 lines, stdio a terminal (before)', Math.round(tty.ms), `ms, ${tty.writes} fd_write calls`)
    figure('wasi programs', 'printf 100,000 lines, stdio not a terminal (now)', Math.round(pipe.ms), `ms, ${pipe.writes} fd_write calls`)
    expect(pipe.bytes).toBe(tty.bytes)
    expect(tty.writes).toBeGreaterThanOrEqual(100_000)
    expect(pipe.writes).toBeLessThan(2_000)
  })
})

function onPath (cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' }); return true } catch { return false }
}

/** What test/programs/c/fsops.c prints with /in/data.txt = INPUT (44 bytes); each line is `call = result errno`. */
const FSOPS_TRANSCRIPT = `isatty(1) = 0 ok
lseek(1) = -1 ESPIPE
open /in/data.txt O_RDONLY = 5 ok
read = 5 ok
lseek end = 44 ok
pread 2@1 = 2 ok
  bytes he
write to read-only fd = -1 EBADF
open /in/new O_CREAT = -1 ENOTCAPABLE
open /in/data.txt O_RDWR = 6 ok
unlink /in/data.txt = -1 ENOTCAPABLE
mkdir /in/d = -1 ENOTCAPABLE
open /etc/passwd = -1 ENOTCAPABLE
open /out/../in/data.txt = -1 ENOTCAPABLE
mkdir /out/d = 0 ok
mkdir /out/d again = -1 EEXIST
open /out/d/f.txt O_CREAT|O_EXCL = 7 ok
open it again O_EXCL = -1 EEXIST
write 11 = 11 ok
pwrite 1@0 = 1 ok
ftruncate 5 = 0 ok
fstat size = 5 ok
S_ISREG = 1 ok
stat /out/d S_ISDIR = 1 ok
stat /out/nope = -1 ENOENT
access /out/d/f.txt = 0 ok
rmdir /out/d (not empty) = -1 ENOTEMPTY
unlink /out/d (a folder) = -1 EISDIR
rename f.txt -> g.txt = 0 ok
symlink = -1 EPERM
link = -1 EPERM
readlink = -1 EINVAL
chdir /out/d = 0 ok
open g.txt relative = 8 ok
getcwd = 6 ok
  cwd /out/d
fd_renumber onto fd (no dup2 in wasi-libc) = 0 ok
write via renumber target = 5 ok
close renumbered-away fd = -1 EBADF
opendir /in = 1 ok
  entry . type 3
  entry .. type 3
  entry data.txt type 4
unlink /out/d/g.txt = 0 ok
rmdir /out/d = 0 ok
poll stdin+stdout = 2 ok
  revents 1 2
`
