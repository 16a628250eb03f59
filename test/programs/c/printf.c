/*
 * Prints N short lines with printf (default 100000): how fast stdout is when libc buffers it
 * fully (not a tty) versus line by line (a tty).
 * Build: clang --target=wasm32-wasi -O2 printf.c -o printf.wasm
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  for (long i = 0; i < n; i++) printf("line %ld\n", i);
  return 0;
}
