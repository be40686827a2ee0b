/**
 * Linux errno names (identical on x86_64 and aarch64) and the error type that
 * every failed system call becomes: it names the call, the object and the errno.
 * @module
 */

const NAMES: Record<number, [string, string]> = {
  1: ["EPERM", "Operation not permitted"],
  2: ["ENOENT", "No such file or directory"],
  3: ["ESRCH", "No such process"],
  4: ["EINTR", "Interrupted system call"],
  5: ["EIO", "Input/output error"],
  6: ["ENXIO", "No such device or address"],
  7: ["E2BIG", "Argument list too long"],
  8: ["ENOEXEC", "Exec format error"],
  9: ["EBADF", "Bad file descriptor"],
  10: ["ECHILD", "No child processes"],
  11: ["EAGAIN", "Resource temporarily unavailable"],
  12: ["ENOMEM", "Cannot allocate memory"],
  13: ["EACCES", "Permission denied"],
  14: ["EFAULT", "Bad address"],
  15: ["ENOTBLK", "Block device required"],
  16: ["EBUSY", "Device or resource busy"],
  17: ["EEXIST", "File exists"],
  18: ["EXDEV", "Invalid cross-device link"],
  19: ["ENODEV", "No such device"],
  20: ["ENOTDIR", "Not a directory"],
  21: ["EISDIR", "Is a directory"],
  22: ["EINVAL", "Invalid argument"],
  23: ["ENFILE", "Too many open files in system"],
  24: ["EMFILE", "Too many open files"],
  25: ["ENOTTY", "Inappropriate ioctl for device"],
  26: ["ETXTBSY", "Text file busy"],
  27: ["EFBIG", "File too large"],
  28: ["ENOSPC", "No space left on device"],
  29: ["ESPIPE", "Illegal seek"],
  30: ["EROFS", "Read-only file system"],
  31: ["EMLINK", "Too many links"],
  32: ["EPIPE", "Broken pipe"],
  34: ["ERANGE", "Numerical result out of range"],
  36: ["ENAMETOOLONG", "File name too long"],
  38: ["ENOSYS", "Function not implemented"],
  39: ["ENOTEMPTY", "Directory not empty"],
  40: ["ELOOP", "Too many levels of symbolic links"],
  61: ["ENODATA", "No data available"],
  71: ["EPROTO", "Protocol error"],
  75: ["EOVERFLOW", "Value too large for defined data type"],
  84: ["EILSEQ", "Invalid or incomplete multibyte or wide character"],
  88: ["ENOTSOCK", "Socket operation on non-socket"],
  90: ["EMSGSIZE", "Message too long"],
  93: ["EPROTONOSUPPORT", "Protocol not supported"],
  95: ["EOPNOTSUPP", "Operation not supported"],
  97: ["EAFNOSUPPORT", "Address family not supported by protocol"],
  98: ["EADDRINUSE", "Address already in use"],
  99: ["EADDRNOTAVAIL", "Cannot assign requested address"],
  100: ["ENETDOWN", "Network is down"],
  101: ["ENETUNREACH", "Network is unreachable"],
  104: ["ECONNRESET", "Connection reset by peer"],
  105: ["ENOBUFS", "No buffer space available"],
  110: ["ETIMEDOUT", "Connection timed out"],
  111: ["ECONNREFUSED", "Connection refused"],
  113: ["EHOSTUNREACH", "No route to host"],
  122: ["EDQUOT", "Disk quota exceeded"],
};

const BY_NAME: Record<string, number> = Object.fromEntries(
  Object.entries(NAMES).map(([n, [name]]) => [name, Number(n)]),
);

/** The symbolic name of an errno value, e.g. 1 → "EPERM". */
export function errnoName(errno: number): string {
  return NAMES[errno]?.[0] ?? `errno ${errno}`;
}

/** The C library's description of an errno value. */
export function errnoText(errno: number): string {
  return NAMES[errno]?.[1] ?? "Unknown error";
}

/** The errno value of a symbolic name, e.g. "ENOENT" → 2. */
export function errno(name: string): number {
  const v = BY_NAME[name];
  if (v === undefined) throw new Error(`Unknown errno name: ${name}`);
  return v;
}

/** A failed system call: which call, on what, and the errno. */
export class SyscallError extends Error {
  /** The syscall, e.g. "mount". */
  readonly syscall: string;
  /** The errno value. */
  readonly errno: number;
  /** The errno name, e.g. "EPERM". */
  readonly code: string;
  /** The path or object the call was about, when there is one. */
  readonly object?: string;

  constructor(syscall: string, errnoValue: number, object?: string, hint?: string) {
    const code = errnoName(errnoValue);
    super(
      `${syscall}${object ? ` ${object}` : ""}: ${code} (${errnoText(errnoValue)})${
        hint ? `: ${hint}` : ""
      }`,
    );
    this.name = "SyscallError";
    this.syscall = syscall;
    this.errno = errnoValue;
    this.code = code;
    this.object = object;
  }
}
