;; hello — the Phase example job. Prints its arguments joined by single spaces, reversed by
;; Unicode code point (so UTF-8 stays valid), followed by a newline. With no arguments it
;; reverses its whole stdin instead.   hello "Hello, World"  →  dlroW ,olleH
;;
;; Uses only WASI preview1 args, fd_read (stdin), fd_write (stdout/stderr) and proc_exit.
;; Memory starts at one page and grows only as far as the input needs (up to 1 MiB of input):
;; a job's memory is allocated per run, so a small footprint is a fast job.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  ;; Layout: 0x000 scratch (sizes, iovecs) · 0x080 message · 0x100 argv pointers (≤ 960) ·
  ;; 0x1000 input, then the output right after it.
  (memory (export "memory") 1)
  (global $IN i32 (i32.const 0x1000))
  (global $CAP i32 (i32.const 0x100000))
  (data (i32.const 0x80) "hello: input too large\n")

  (func $fail (param $code i32)
    (i32.store (i32.const 0x40) (i32.const 0x80))
    (i32.store (i32.const 0x44) (i32.const 23))
    (drop (call $fd_write (i32.const 2) (i32.const 0x40) (i32.const 1) (i32.const 0x48)))
    (call $proc_exit (local.get $code))
    unreachable)

  ;; Grows memory so that addresses below $end exist.
  (func $ensure (param $end i32)
    (local $pages i32)
    (local.set $pages (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 0xFFFF)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1)) (then (call $fail (i32.const 3)))))))

  ;; Reads arguments 1..argc-1 into $IN joined by spaces; returns their length.
  (func $read_args (param $argc i32) (param $size i32) (result i32)
    (local $start i32) (local $end i32) (local $i i32)
    (if (i32.or (i32.gt_u (local.get $argc) (i32.const 960)) (i32.gt_u (local.get $size) (global.get $CAP)))
      (then (call $fail (i32.const 2))))
    ;; Room for the text and for its reversed copy.
    (call $ensure (i32.add (global.get $IN) (i32.add (i32.mul (local.get $size) (i32.const 2)) (i32.const 1))))
    (drop (call $args_get (i32.const 0x100) (global.get $IN)))
    (local.set $start (i32.load (i32.const 0x104)))
    (local.set $end (i32.sub (i32.add (global.get $IN) (local.get $size)) (i32.const 1)))
    ;; The NULs between arguments become spaces; the final NUL is dropped.
    (local.set $i (local.get $start))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (if (i32.eqz (i32.load8_u (local.get $i))) (then (i32.store8 (local.get $i) (i32.const 32))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (memory.copy (global.get $IN) (local.get $start) (i32.sub (local.get $end) (local.get $start)))
    (i32.sub (local.get $end) (local.get $start)))

  ;; Reads all of stdin into $IN, growing memory by 64 KiB at a time; returns its length.
  (func $read_stdin (result i32)
    (local $len i32) (local $n i32)
    (block $eof (loop $more
      (if (i32.ge_u (local.get $len) (global.get $CAP)) (then (call $fail (i32.const 2))))
      (call $ensure (i32.add (global.get $IN) (i32.add (local.get $len) (i32.const 0x10000))))
      (i32.store (i32.const 0x10) (i32.add (global.get $IN) (local.get $len)))
      (i32.store (i32.const 0x14) (i32.const 0x10000))
      (br_if $eof (i32.ne (call $fd_read (i32.const 0) (i32.const 0x10) (i32.const 1) (i32.const 0x18)) (i32.const 0)))
      (local.set $n (i32.load (i32.const 0x18)))
      (br_if $eof (i32.eqz (local.get $n)))
      (local.set $len (i32.add (local.get $len) (local.get $n)))
      (br $more)))
    (call $ensure (i32.add (global.get $IN) (i32.add (i32.mul (local.get $len) (i32.const 2)) (i32.const 1))))
    (local.get $len))

  ;; Copies $IN[0..len) to $out reversed by code point; returns the output length.
  (func $reverse (param $len i32) (param $out i32) (result i32)
    (local $end i32) (local $start i32) (local $o i32)
    (local.set $end (i32.add (global.get $IN) (local.get $len)))
    (local.set $o (local.get $out))
    (block $done (loop $next
      (br_if $done (i32.le_u (local.get $end) (global.get $IN)))
      ;; Step back over UTF-8 continuation bytes (10xxxxxx) to the start of the code point.
      (local.set $start (i32.sub (local.get $end) (i32.const 1)))
      (block $found (loop $back
        (br_if $found (i32.le_u (local.get $start) (global.get $IN)))
        (br_if $found (i32.ne (i32.and (i32.load8_u (local.get $start)) (i32.const 0xC0)) (i32.const 0x80)))
        (local.set $start (i32.sub (local.get $start) (i32.const 1)))
        (br $back)))
      (memory.copy (local.get $o) (local.get $start) (i32.sub (local.get $end) (local.get $start)))
      (local.set $o (i32.add (local.get $o) (i32.sub (local.get $end) (local.get $start))))
      (local.set $end (local.get $start))
      (br $next)))
    (i32.sub (local.get $o) (local.get $out)))

  (func (export "_start")
    (local $len i32) (local $out i32)
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (local.set $len
      (if (result i32) (i32.gt_u (i32.load (i32.const 0)) (i32.const 1))
        (then (call $read_args (i32.load (i32.const 0)) (i32.load (i32.const 4))))
        (else (call $read_stdin))))
    (local.set $out (i32.add (global.get $IN) (local.get $len)))
    (local.set $len (call $reverse (local.get $len) (local.get $out)))
    (i32.store8 (i32.add (local.get $out) (local.get $len)) (i32.const 10))
    ;; One iovec at 0x20: the reversed text and its newline.
    (i32.store (i32.const 0x20) (local.get $out))
    (i32.store (i32.const 0x24) (i32.add (local.get $len) (i32.const 1)))
    (drop (call $fd_write (i32.const 1) (i32.const 0x20) (i32.const 1) (i32.const 0x28)))))
