#!/bin/sh
# Builds hello.wasm from hello.wat with wabt's wat2wasm (from the npm package; no system tools).
set -eu
cd "$(dirname "$0")"
../../node_modules/.bin/wat2wasm hello.wat -o hello.wasm
echo "built $(pwd)/hello.wasm ($(wc -c < hello.wasm) bytes)"
