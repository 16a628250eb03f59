/*
 * An ordinary C program for WASI (wasi-libc), run unmodified by the executor's tests: it reads
 * an input file, writes an output file, reports through printf, asks isatty() and polls stdin.
 *
 *   files IN OUT   counts lines/words/bytes of IN (e.g. /in/data.txt), writes the counts and
 *                  the input's lines reversed to OUT (e.g. /out/report.txt), prints a summary.
 *
 * Build (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32):
 *   clang --target=wasm32-wasi -O2 files.c -o files.wasm
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: files IN OUT\n"); return 2; }
  /* A program that thinks it talks to a terminal would prompt; this one must not. */
  fprintf(stderr, "stdin %s a tty, stdout %s a tty\n", isatty(0) ? "is" : "is not", isatty(1) ? "is" : "is not");

  struct pollfd p = { .fd = 0, .events = POLLIN };
  int ready = poll(&p, 1, 1000);
  char buf[64] = { 0 };
  size_t got = ready == 1 && (p.revents & POLLIN) ? fread(buf, 1, sizeof buf - 1, stdin) : 0;

  FILE *in = fopen(argv[1], "rb");
  if (in == NULL) { fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno)); return 3; }
  size_t cap = 1 << 16, len = 0;
  char *data = malloc(cap);
  for (size_t n; (n = fread(data + len, 1, cap - len, in)) > 0;) {
    len += n;
    if (len == cap) data = realloc(data, cap *= 2);
  }
  fclose(in);

  long lines = 0, words = 0;
  int inword = 0;
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\n') lines++;
    if (isspace((unsigned char)data[i])) inword = 0;
    else if (!inword) { inword = 1; words++; }
  }

  /* Writing where the job may not is refused. */
  FILE *ro = fopen(argv[1], "w");
  fprintf(stderr, "write %s: %s\n", argv[1], ro == NULL ? strerror(errno) : "allowed");

  mkdir("/out/sub", 0755);
  FILE *out = fopen(argv[2], "w");
  if (out == NULL) { fprintf(stderr, "open %s: %s\n", argv[2], strerror(errno)); return 4; }
  fprintf(out, "lines %ld words %ld bytes %zu stdin \"%s\"\n", lines, words, len, buf);
  for (size_t end = len; end > 0;) {
    size_t start = end - 1;
    while (start > 0 && data[start - 1] != '\n') start--;
    fwrite(data + start, 1, end - start, out);
    if (data[end - 1] != '\n') fputc('\n', out);
    end = start;
  }
  if (fclose(out) != 0) { perror("close"); return 5; }

  struct stat st;
  stat(argv[2], &st);
  printf("%s: %ld lines, %ld words, %zu bytes; wrote %lld bytes to %s\n", argv[1], lines, words, len, (long long)st.st_size, argv[2]);
  return 0;
}
