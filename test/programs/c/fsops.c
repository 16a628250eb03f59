/*
 * POSIX file calls through wasi-libc on the executor's /in and /out, one line per call with its
 * result or errno name, so a test compares the whole transcript. Exercises open flags, lseek,
 * pread/pwrite, ftruncate, stat/fstat, mkdir/rmdir, rename, unlink, opendir/readdir, access,
 * symlink/link/readlink (unsupported), chdir + relative paths, fd_renumber, isatty, poll.
 * Build: clang --target=wasm32-wasi -O2 fsops.c -o fsops.wasm
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

static const char *en(int e) {
  switch (e) {
    case 0: return "ok";
    case EACCES: return "EACCES"; case EBADF: return "EBADF"; case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL"; case EISDIR: return "EISDIR"; case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR"; case ENOTEMPTY: return "ENOTEMPTY"; case EPERM: return "EPERM";
    case ESPIPE: return "ESPIPE"; case ENOTCAPABLE: return "ENOTCAPABLE"; case EROFS: return "EROFS";
    case ENOTTY: return "ENOTTY"; case ENOSYS: return "ENOSYS"; case ENOTSUP: return "ENOTSUP";
    default: return strerror(e);
  }
}
#define SHOW(label, expr) do { errno = 0; long r_ = (long)(expr); printf("%s = %ld %s\n", label, r_, en(r_ < 0 ? errno : 0)); } while (0)

int main(void) {
  char buf[256];
  struct stat st;
  SHOW("isatty(1)", isatty(1));
  SHOW("lseek(1)", lseek(1, 0, SEEK_CUR));
  int in = open("/in/data.txt", O_RDONLY);
  SHOW("open /in/data.txt O_RDONLY", in);
  SHOW("read", read(in, buf, 5));
  SHOW("lseek end", lseek(in, 0, SEEK_END));
  SHOW("pread 2@1", pread(in, buf, 2, 1));
  printf("  bytes %.2s\n", buf);
  SHOW("write to read-only fd", write(in, "x", 1));
  SHOW("open /in/new O_CREAT", open("/in/new", O_WRONLY | O_CREAT, 0644));
  SHOW("open /in/data.txt O_RDWR", open("/in/data.txt", O_RDWR));
  SHOW("unlink /in/data.txt", unlink("/in/data.txt"));
  SHOW("mkdir /in/d", mkdir("/in/d", 0755));
  SHOW("open /etc/passwd", open("/etc/passwd", O_RDONLY));
  SHOW("open /out/../in/data.txt", open("/out/../in/data.txt", O_RDONLY));
  SHOW("mkdir /out/d", mkdir("/out/d", 0755));
  SHOW("mkdir /out/d again", mkdir("/out/d", 0755));
  int fd = open("/out/d/f.txt", O_RDWR | O_CREAT | O_EXCL, 0644);
  SHOW("open /out/d/f.txt O_CREAT|O_EXCL", fd);
  SHOW("open it again O_EXCL", open("/out/d/f.txt", O_RDWR | O_CREAT | O_EXCL, 0644));
  SHOW("write 11", write(fd, "hello world", 11));
  SHOW("pwrite 1@0", pwrite(fd, "H", 1, 0));
  SHOW("ftruncate 5", ftruncate(fd, 5));
  SHOW("fstat size", (fstat(fd, &st), st.st_size));
  SHOW("S_ISREG", S_ISREG(st.st_mode));
  SHOW("stat /out/d S_ISDIR", (stat("/out/d", &st), S_ISDIR(st.st_mode)));
  SHOW("stat /out/nope", stat("/out/nope", &st));
  SHOW("access /out/d/f.txt", access("/out/d/f.txt", F_OK));
  SHOW("rmdir /out/d (not empty)", rmdir("/out/d"));
  SHOW("unlink /out/d (a folder)", unlink("/out/d"));
  SHOW("rename f.txt -> g.txt", rename("/out/d/f.txt", "/out/d/g.txt"));
  SHOW("symlink", symlink("g.txt", "/out/d/link"));
  SHOW("link", link("/out/d/g.txt", "/out/d/hard"));
  SHOW("readlink", readlink("/out/d/g.txt", buf, sizeof buf));
  SHOW("chdir /out/d", chdir("/out/d"));
  SHOW("open g.txt relative", open("g.txt", O_RDONLY));
  SHOW("getcwd", getcwd(buf, sizeof buf) == NULL ? -1 : (long)strlen(buf));
  printf("  cwd %s\n", buf);
  int keep = open("/out/keep.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  SHOW("fd_renumber onto fd (no dup2 in wasi-libc)", -(long)__wasi_fd_renumber(keep, fd));
  SHOW("write via renumber target", write(fd, "kept\n", 5));
  SHOW("close renumbered-away fd", close(keep));
  DIR *d = opendir("/in");
  SHOW("opendir /in", d != NULL);
  for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) printf("  entry %s type %d\n", e->d_name, e->d_type);
  if (d) closedir(d);
  SHOW("unlink /out/d/g.txt", unlink("/out/d/g.txt"));
  SHOW("rmdir /out/d", rmdir("/out/d"));
  struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = 1, .events = POLLOUT } };
  SHOW("poll stdin+stdout", poll(p, 2, 0));
  printf("  revents %d %d\n", p[0].revents, p[1].revents);
  return 0;
}
