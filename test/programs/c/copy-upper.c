/*
 * Reads /in/x and writes it upper-cased to /out/y, plus a line count to /out/sub/count.txt:
 * an ordinary wasi-libc program (stdio only) for the end-to-end tests of input and output files.
 * Build: clang --target=wasm32-wasi -O2 -Wl,--strip-all copy-upper.c -o copy-upper.wasm
 */
#include <ctype.h>
#include <stdio.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
  const char *in = argc > 1 ? argv[1] : "/in/x";
  FILE *src = fopen(in, "rb");
  if (!src) { perror(in); return 2; }
  FILE *dst = fopen("/out/y", "wb");
  if (!dst) { perror("/out/y"); return 3; }
  int c;
  long lines = 0;
  while ((c = fgetc(src)) != EOF) {
    if (c == '\n') lines++;
    fputc(toupper(c), dst);
  }
  fclose(src);
  if (fclose(dst) != 0) { perror("/out/y"); return 4; }
  mkdir("/out/sub", 0755);
  FILE *count = fopen("/out/sub/count.txt", "w");
  if (!count) { perror("/out/sub/count.txt"); return 5; }
  fprintf(count, "%ld\n", lines);
  fclose(count);
  printf("copied %ld lines\n", lines);
  return 0;
}
