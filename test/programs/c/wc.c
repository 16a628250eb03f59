/*
 * Counts the bytes and lines of an input file (argv[1], default /in/x) in 64 KiB reads and
 * writes "<bytes> <lines>\n" to /out/count.txt and stdout: the guest of the big-input bench.
 * Build: clang --target=wasm32-wasi -O2 -Wl,--strip-all wc.c -o wc.wasm
 */
#include <stdio.h>

static char buf[65536];

int main(int argc, char **argv) {
  const char *in = argc > 1 ? argv[1] : "/in/x";
  FILE *src = fopen(in, "rb");
  if (!src) { perror(in); return 2; }
  unsigned long long bytes = 0, lines = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, src)) > 0) {
    bytes += n;
    for (size_t i = 0; i < n; i++) lines += buf[i] == '\n';
  }
  fclose(src);
  FILE *out = fopen("/out/count.txt", "w");
  if (!out) { perror("/out/count.txt"); return 3; }
  fprintf(out, "%llu %llu\n", bytes, lines);
  fclose(out);
  printf("%llu %llu\n", bytes, lines);
  return 0;
}
