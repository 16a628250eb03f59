#!/bin/sh
# Builds the kernels for wasm32-wasi with Debian's clang + wasi-libc
# (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32). The .wasm files are committed,
# so neither CI nor the bench needs these tools; the native side is built by the bench with gcc -O2.
set -eu
cd "$(dirname "$0")"
for src in *.c; do
  name=${src%.c}
  clang --target=wasm32-wasi --sysroot=/usr -O2 -o "$name.wasm" "$src"
  echo "built $name.wasm ($(wc -c < "$name.wasm") bytes)"
done
