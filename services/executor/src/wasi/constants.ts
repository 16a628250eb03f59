/**
 * WASI preview1 numbers: errno, rights, file types, flags and struct layouts.
 * Spec: https://github.com/WebAssembly/WASI/blob/main/legacy/preview1/witx/typenames.witx
 * (the same values as wasi-libc's `wasi/api.h`).
 */

export const ESUCCESS = 0
export const EACCES = 2
export const EBADF = 8
export const EEXIST = 20
export const EFAULT = 21
export const EILSEQ = 25
export const EINVAL = 28
export const EISDIR = 31
export const EMFILE = 33
export const ENAMETOOLONG = 37
export const ENOENT = 44
export const ENOSPC = 51
export const ENOSYS = 52
export const ENOTDIR = 54
export const ENOTEMPTY = 55
export const ENOTSOCK = 57
export const EOVERFLOW = 61
export const EPERM = 63
export const ESPIPE = 70
export const ENOTCAPABLE = 76

export const FILETYPE_UNKNOWN = 0
export const FILETYPE_CHARACTER_DEVICE = 2
export const FILETYPE_DIRECTORY = 3
export const FILETYPE_REGULAR_FILE = 4

export const FDFLAGS_APPEND = 1
export const FDFLAGS_DSYNC = 2
export const FDFLAGS_NONBLOCK = 4
export const FDFLAGS_RSYNC = 8
export const FDFLAGS_SYNC = 16

export const OFLAGS_CREAT = 1
export const OFLAGS_DIRECTORY = 2
export const OFLAGS_EXCL = 4
export const OFLAGS_TRUNC = 8

export const FSTFLAGS_ATIM = 1
export const FSTFLAGS_ATIM_NOW = 2
export const FSTFLAGS_MTIM = 4
export const FSTFLAGS_MTIM_NOW = 8

export const WHENCE_SET = 0
export const WHENCE_CUR = 1
export const WHENCE_END = 2

export const EVENTTYPE_CLOCK = 0
export const EVENTTYPE_FD_READ = 1
export const EVENTTYPE_FD_WRITE = 2
export const SUBCLOCKFLAGS_ABSTIME = 1

export const RIGHT = {
  FD_DATASYNC: 1n << 0n,
  FD_READ: 1n << 1n,
  FD_SEEK: 1n << 2n,
  FD_FDSTAT_SET_FLAGS: 1n << 3n,
  FD_SYNC: 1n << 4n,
  FD_TELL: 1n << 5n,
  FD_WRITE: 1n << 6n,
  FD_ADVISE: 1n << 7n,
  FD_ALLOCATE: 1n << 8n,
  PATH_CREATE_DIRECTORY: 1n << 9n,
  PATH_CREATE_FILE: 1n << 10n,
  PATH_LINK_SOURCE: 1n << 11n,
  PATH_LINK_TARGET: 1n << 12n,
  PATH_OPEN: 1n << 13n,
  FD_READDIR: 1n << 14n,
  PATH_READLINK: 1n << 15n,
  PATH_RENAME_SOURCE: 1n << 16n,
  PATH_RENAME_TARGET: 1n << 17n,
  PATH_FILESTAT_GET: 1n << 18n,
  PATH_FILESTAT_SET_SIZE: 1n << 19n,
  PATH_FILESTAT_SET_TIMES: 1n << 20n,
  FD_FILESTAT_GET: 1n << 21n,
  FD_FILESTAT_SET_SIZE: 1n << 22n,
  FD_FILESTAT_SET_TIMES: 1n << 23n,
  PATH_SYMLINK: 1n << 24n,
  PATH_REMOVE_DIRECTORY: 1n << 25n,
  PATH_UNLINK_FILE: 1n << 26n,
  POLL_FD_READWRITE: 1n << 27n,
  SOCK_SHUTDOWN: 1n << 28n,
  SOCK_ACCEPT: 1n << 29n
} as const

const R = RIGHT
/** What a read-only regular file allows. */
export const RIGHTS_FILE_READ = R.FD_READ | R.FD_SEEK | R.FD_TELL | R.FD_ADVISE | R.FD_FILESTAT_GET |
  R.POLL_FD_READWRITE | R.FD_FDSTAT_SET_FLAGS | R.FD_SYNC | R.FD_DATASYNC
/** Everything a regular file can do. */
export const RIGHTS_FILE_ALL = RIGHTS_FILE_READ | R.FD_WRITE | R.FD_ALLOCATE | R.FD_FILESTAT_SET_SIZE | R.FD_FILESTAT_SET_TIMES
/** What a read-only directory allows. */
export const RIGHTS_DIR_READ = R.PATH_OPEN | R.FD_READDIR | R.PATH_READLINK | R.PATH_FILESTAT_GET | R.FD_FILESTAT_GET |
  R.FD_FDSTAT_SET_FLAGS | R.FD_SYNC
/** Everything a directory can do. */
export const RIGHTS_DIR_ALL = RIGHTS_DIR_READ | R.PATH_CREATE_DIRECTORY | R.PATH_CREATE_FILE | R.PATH_LINK_SOURCE |
  R.PATH_LINK_TARGET | R.PATH_RENAME_SOURCE | R.PATH_RENAME_TARGET | R.PATH_FILESTAT_SET_SIZE | R.PATH_FILESTAT_SET_TIMES |
  R.FD_FILESTAT_SET_TIMES | R.PATH_SYMLINK | R.PATH_REMOVE_DIRECTORY | R.PATH_UNLINK_FILE
/**
 * Stdio: a stream, not a terminal. wasi-libc's isatty() answers 1 only for a CHARACTER_DEVICE
 * without FD_SEEK/FD_TELL; stdio here is FILETYPE_UNKNOWN (as wasmtime reports a pipe), so
 * programs do not go interactive and stdout is fully buffered.
 */
export const RIGHTS_STDIN = R.FD_READ | R.POLL_FD_READWRITE | R.FD_FDSTAT_SET_FLAGS | R.FD_FILESTAT_GET
export const RIGHTS_STDOUT = R.FD_WRITE | R.POLL_FD_READWRITE | R.FD_FDSTAT_SET_FLAGS | R.FD_FILESTAT_GET

/** Struct sizes (bytes) in guest memory. */
export const FDSTAT_SIZE = 24
export const FILESTAT_SIZE = 64
export const DIRENT_SIZE = 24
export const SUBSCRIPTION_SIZE = 48
export const EVENT_SIZE = 32
