// ctr-watch: what stays behind when `ctr run -d` returns.
//
// The process that created a detached container is the container's parent,
// and only the parent can collect its exit status. Rather than keep a Deno
// runtime (tens of MB) alive for that, it replaces itself with this program,
// which inherits the parentage: it copies the container's output into a
// docker json-file log, reaps the container, records how it ended, and then
// optionally execs a follow-up command (ctr's cleanup/restart step).
//
//   ctr-watch PID STDOUT_FD STDERR_FD LOG_PATH MAX_SIZE MAX_FILES EXIT_PATH [-- CMD ARG...]
//
// PID may be `fd:N`: a pidfd of the container at fd N, for a watcher that
// forked the container itself and exec'd this before it knew its pid.
//
// Its resident cost is the point, so it has no libc, no heap and no dynamic
// loader: raw system calls, static buffers (untouched .bss pages cost
// nothing), and a _start of its own. Build: scripts/gen_watch.sh.

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "ctr-watch supports x86_64 and aarch64"
#endif

typedef unsigned long u64;
typedef unsigned int u32;

// ---- system calls --------------------------------------------------------

#if defined(__x86_64__)
enum {
  NR_read = 0, NR_write = 1, NR_close = 3, NR_lseek = 8, NR_rt_sigaction = 13,
  NR_rt_sigprocmask = 14, NR_execve = 59, NR_ftruncate = 77, NR_chdir = 80,
  NR_clock_gettime = 228, NR_exit_group = 231, NR_waitid = 247, NR_openat = 257,
  NR_unlinkat = 263, NR_ppoll = 271, NR_renameat2 = 316, NR_pidfd_open = 434,
};

static long sc(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long r;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return r;
}

// The kernel enters with %rsp at argc (16-byte aligned); the call pushes the
// return address, which is the alignment the C ABI expects at a function's entry.
__asm__(".text\n.global _start\n_start:\n"
        "  xor %ebp, %ebp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call start_c\n"
        "  hlt\n");
#else
// aarch64 has the generic table, without poll and renameat: hence ppoll and
// renameat2 on both.
enum {
  NR_read = 63, NR_write = 64, NR_close = 57, NR_lseek = 62, NR_rt_sigaction = 134,
  NR_rt_sigprocmask = 135, NR_execve = 221, NR_ftruncate = 46, NR_chdir = 49,
  NR_clock_gettime = 113, NR_exit_group = 94, NR_waitid = 95, NR_openat = 56,
  NR_unlinkat = 35, NR_ppoll = 73, NR_renameat2 = 276, NR_pidfd_open = 434,
};

static long sc(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}

// sp points at argc and is 16-byte aligned; clear the frame and link
// registers so nothing unwinds past the entry point.
__asm__(".text\n.global _start\n_start:\n"
        "  mov x29, #0\n"
        "  mov x30, #0\n"
        "  mov x0, sp\n"
        "  bl start_c\n"
        "  brk #0\n");
#endif

#define SC1(n, a) sc(n, (long)(a), 0, 0, 0, 0, 0)
#define SC2(n, a, b) sc(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define SC3(n, a, b, c) sc(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SC4(n, a, b, c, d) sc(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SC5(n, a, b, c, d, e) sc(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

enum { EINTR = 4, EAGAIN = 11, ECHILD = 10, ENOSYS = 38 };
enum { O_WRONLY = 1, O_CREAT = 0100, O_TRUNC = 01000, O_APPEND = 02000, O_CLOEXEC = 02000000 };
enum { AT_FDCWD = -100, SEEK_END = 2, CLOCK_REALTIME = 0 };
enum { P_PID = 1, P_PIDFD = 3, WNOHANG = 1, WEXITED = 4, CLD_EXITED = 1 };
enum { POLLIN = 1, SIGHUP = 1, SIGPIPE = 13, SIG_SETMASK = 2 };

struct timespec { long sec, nsec; };
struct pollfd { int fd; short events, revents; };
// struct sigaction as the kernel takes it (the same on both: sa_restorer
// exists on aarch64 too). Only the handler is set: SIG_DFL 0, SIG_IGN 1.
struct ksigaction { u64 handler, flags, restorer, mask; };

static __attribute__((noreturn)) void exit_now(int code) {
  for (;;) SC1(NR_exit_group, code);
}

// ---- small string helpers (no libc) -------------------------------------

static u32 slen(const char *s) {
  u32 n = 0;
  while (s[n]) n++;
  return n;
}

static char *put(char *o, const char *s) {
  while (*s) *o++ = *s++;
  return o;
}

static char *put_dec(char *o, long v) {
  char tmp[24];
  int n = 0;
  u64 u = v < 0 ? -(u64)v : (u64)v;
  if (v < 0) *o++ = '-';
  do tmp[n++] = '0' + u % 10; while ((u /= 10) != 0);
  while (n) *o++ = tmp[--n];
  return o;
}

// Fixed-width, zero-padded decimal (for the fields of a timestamp).
static char *put_pad(char *o, u64 v, int width) {
  for (int i = width - 1; i >= 0; i--, v /= 10) o[i] = '0' + v % 10;
  return o + width;
}

static void write_all(int fd, const char *p, u64 n) {
  while (n) {
    long r = SC3(NR_write, fd, p, n);
    if (r == -EINTR) continue;
    if (r <= 0) return;
    p += r;
    n -= r;
  }
}

static void say(const char *a, const char *b, long err) {
  static char msg[512];
  char *o = put(msg, "ctr-watch: ");
  o = put(o, a);
  if (b) {
    u32 n = slen(b);
    if (n > 400) n = 400;
    for (u32 i = 0; i < n; i++) *o++ = b[i];
  }
  if (err) o = put_dec(put(o, ": errno "), err);
  *o++ = '\n';
  write_all(2, msg, o - msg);
}

// ---- time -----------------------------------------------------------------

// RFC 3339 UTC with nanoseconds, as docker writes it: 30 characters.
static char *put_time(char *o) {
  struct timespec ts = {0, 0};
  SC2(NR_clock_gettime, CLOCK_REALTIME, &ts);
  u64 s = ts.sec, days = s / 86400, sod = s % 86400;
  // Days since 1970-01-01 to a civil date: H. Hinnant's civil_from_days.
  u64 z = days + 719468, era = z / 146097, doe = z - era * 146097;
  u64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  u64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  u64 d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  u64 y = yoe + era * 400 + (m <= 2);
  o = put_pad(o, y, 4), *o++ = '-', o = put_pad(o, m, 2), *o++ = '-';
  o = put_pad(o, d, 2), *o++ = 'T', o = put_pad(o, sod / 3600, 2), *o++ = ':';
  o = put_pad(o, sod / 60 % 60, 2), *o++ = ':', o = put_pad(o, sod % 60, 2);
  *o++ = '.', o = put_pad(o, ts.nsec, 9), *o++ = 'Z';
  return o;
}

// ---- the log --------------------------------------------------------------

enum { READ_MAX = 64 * 1024, LINE_MAX = 16 * 1024, PATH_MAX = 4096 };

static const char *log_path;  // 0: no log, output is drained and dropped
static int log_fd = -1;
static u64 log_size, max_size, max_files;
static char now[32];  // timestamp of the read that produced the records (NUL-ended: .bss)
static char rec[6 * LINE_MAX + 128];  // a record; every byte may become \u00XX
static char path_a[PATH_MAX + 24], path_b[PATH_MAX + 24];

static void open_log(void) {
  static int reported;  // retried for every record: say it once
  log_fd = SC4(NR_openat, AT_FDCWD, log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) {
    if (!reported++) say("openat ", log_path, -log_fd);
    log_fd = -1;
    return;
  }
  // Appending to an existing log (a restarted container): rotation counts it.
  long end = SC3(NR_lseek, log_fd, 0, SEEK_END);
  log_size = end > 0 ? end : 0;
}

// LOG.k into buf.
static const char *numbered(char *buf, u64 k) {
  char *o = put(buf, log_path);
  *o++ = '.';
  *put_dec(o, k) = 0;
  return buf;
}

// docker's json-file rotation: LOG.(N-1) is dropped, LOG.k becomes LOG.(k+1),
// LOG becomes LOG.1 and a new LOG starts; with one file, LOG starts over.
static void rotate(void) {
  if (max_files <= 1) {
    SC2(NR_ftruncate, log_fd, 0);
    log_size = 0;
    return;
  }
  SC3(NR_unlinkat, AT_FDCWD, numbered(path_a, max_files - 1), 0);
  for (u64 k = max_files - 1; k-- > 1;) {
    SC5(NR_renameat2, AT_FDCWD, numbered(path_a, k), AT_FDCWD, numbered(path_b, k + 1), 0);
  }
  long r = SC5(NR_renameat2, AT_FDCWD, log_path, AT_FDCWD, numbered(path_b, 1), 0);
  if (r < 0) say("renameat2 ", log_path, -r);
  SC1(NR_close, log_fd);
  open_log();
}

static char *escape(char *o, const unsigned char *p, u32 n) {
  static const char hex[] = "0123456789abcdef";
  for (u32 i = 0; i < n; i++) {
    unsigned c = p[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\', *o++ = c;
    } else if (c >= 0x20) {
      *o++ = c;  // UTF-8 (and anything else >= 0x80) passes through unchanged
    } else {
      *o++ = '\\';
      switch (c) {
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default: o = put(o, "u00"), *o++ = hex[c >> 4], *o++ = hex[c & 15];
      }
    }
  }
  return o;
}

// Writes one record. Errors (a full disk...) drop it: the container must
// never block on its log.
static void record(const char *stream, const char *p, u32 n) {
  if (!log_path) return;
  if (log_fd < 0) open_log();  // an earlier failure may have been transient
  if (log_fd < 0) return;
  char *o = put(rec, "{\"log\":\"");
  o = escape(o, (const unsigned char *)p, n);
  o = put(put(put(o, "\",\"stream\":\""), stream), "\",\"time\":\"");
  o = put(put(o, now), "\"}\n");
  u64 len = o - rec;
  if (max_size && log_size && log_size + len > max_size) rotate();
  if (log_fd < 0) return;
  u64 off = 0;
  while (off < len) {
    long r = SC3(NR_write, log_fd, rec + off, len - off);
    if (r == -EINTR) continue;
    if (r <= 0) {
      // Cut a half-written record so that the next one starts a line.
      if (off) SC2(NR_ftruncate, log_fd, log_size);
      return;
    }
    off += r;
  }
  log_size += len;
}

// ---- the streams ----------------------------------------------------------

struct stream {
  int fd;
  u32 len;  // bytes of a partial line in `line`
  const char *name;
  char *line;
};

// Set up in start_c: initialized data would be stored in the file. The line
// buffers are apart so that the few words in use share one page.
static struct stream streams[2];
static char lines[2][LINE_MAX];
static char buf[READ_MAX];

static void copy(char *d, const char *s, u32 n) {
  while (n--) *d++ = *s++;
}

// Splits output into records: one per line, newline kept; a partial line
// waits in s->line until its newline, or goes out when it reaches LINE_MAX.
static void feed(struct stream *s, const char *p, u64 n) {
  while (n) {
    u32 room = LINE_MAX - s->len, take = n < room ? n : room, i = 0;
    while (i < take && p[i] != '\n') i++;
    int eol = i < take;
    if (eol) take = i + 1;
    if (s->len == 0 && (eol || take == LINE_MAX)) {
      record(s->name, p, take);  // a whole record in the read buffer: no copy
    } else {
      copy(s->line + s->len, p, take);
      s->len += take;
      if (eol || s->len == LINE_MAX) record(s->name, s->line, s->len), s->len = 0;
    }
    p += take;
    n -= take;
  }
}

static void end_stream(struct stream *s) {
  if (s->len) record(s->name, s->line, s->len), s->len = 0;
  SC1(NR_close, s->fd);
  s->fd = -1;
}

// One read per readiness report: the fds are blocking, a second read might wait.
static void drain(struct stream *s) {
  long r = SC3(NR_read, s->fd, buf, READ_MAX);
  put_time(now);
  if (r > 0) feed(s, buf, r);
  else if (r != -EINTR && r != -EAGAIN) end_stream(s);  // EOF, EIO (pty: slave gone), error
}

// ---- the container --------------------------------------------------------

// The container: by pid (waitid P_PID), or by a pidfd it was given (P_PIDFD).
static long pid, idtype = P_PID;
static int reaped, exit_code, signo;
static char finished[32];

// The 128-byte siginfo has si_code at offset 8, si_pid at 16 (0: WNOHANG found
// nothing) and si_status at 24, on both architectures.
static void reap(int flags) {
  int info[32];
  for (int i = 0; i < 32; i++) info[i] = 0;
  long r = SC5(NR_waitid, idtype, pid, info, WEXITED | flags, 0);
  if (r == -EINTR || (r == 0 && info[4] == 0)) return;  // WNOHANG: still running
  put_time(finished);
  reaped = 1;
  if (r < 0) {
    // Not our child (or already reaped): the exit status is gone for good.
    say("waitid of the container", 0, -r);
    exit_code = -1;
  } else if (info[2] == CLD_EXITED) {
    exit_code = info[6];
  } else {
    signo = info[6];
    exit_code = 128 + signo;
  }
}

static void write_exit(const char *path) {
  static char line[160];
  char *o = put(line, "{\"exitCode\":");
  o = put_dec(o, exit_code);
  o = put_dec(put(o, ",\"signal\":"), signo);
  o = put(put(put(o, ",\"finishedAt\":\""), finished), "\"}\n");
  // Written aside and renamed: a reader sees no file or the whole line.
  char *t = put(path_a, path);
  put(t, ".tmp")[0] = 0;
  long fd = SC4(NR_openat, AT_FDCWD, path_a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    say("openat ", path_a, -fd);
    return;
  }
  write_all(fd, line, o - line);
  SC1(NR_close, fd);
  long r = SC5(NR_renameat2, AT_FDCWD, path_a, AT_FDCWD, path, 0);
  if (r < 0) say("renameat2 ", path_a, -r);
}

// ---- arguments ------------------------------------------------------------

static __attribute__((noreturn)) void usage(const char *what, const char *arg) {
  if (!what) {
    what = "usage: ctr-watch PID|fd:PIDFD STDOUT_FD STDERR_FD LOG_PATH MAX_SIZE MAX_FILES EXIT_PATH"
           " [-- CMD ARG...]";
  }
  say(what, arg, 0);
  exit_now(125);
}

// A decimal number, or -1 where `neg_one` allows it (an absent fd).
static long number(const char *s, const char *what, int neg_one) {
  if (neg_one && s[0] == '-' && s[1] == '1' && !s[2]) return -1;
  long v = 0;
  u32 i = 0;
  for (; s[i] >= '0' && s[i] <= '9' && i < 18; i++) v = v * 10 + (s[i] - '0');
  if (i == 0 || s[i]) usage(what, s);
  return v;
}

static const char *abs_path(const char *s, const char *what) {
  if (s[0] != '/' || slen(s) > PATH_MAX) usage(what, s);
  return s;
}

static int streq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

__attribute__((noreturn, used)) void start_c(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
  if (argc != 8 && !(argc >= 10 && streq(argv[8], "--"))) usage(0, 0);
  const char *who = argv[1];
  int given_fd = who[0] == 'f' && who[1] == 'd' && who[2] == ':';
  pid = number(given_fd ? who + 3 : who, "bad PID: ", 0);
  if (given_fd) idtype = P_PIDFD;
  else if (pid <= 0) usage("bad PID: ", who);
  streams[0].fd = number(argv[2], "bad STDOUT_FD: ", 1);
  streams[1].fd = number(argv[3], "bad STDERR_FD: ", 1);
  streams[0].name = "stdout", streams[0].line = lines[0];
  streams[1].name = "stderr", streams[1].line = lines[1];
  if (!streq(argv[4], "-")) log_path = abs_path(argv[4], "LOG_PATH is not an absolute path: ");
  max_size = number(argv[5], "bad MAX_SIZE: ", 0);
  max_files = number(argv[6], "bad MAX_FILES: ", 0);
  if (max_files < 1) usage("bad MAX_FILES: ", argv[6]);
  const char *exit_path = abs_path(argv[7], "EXIT_PATH is not an absolute path: ");

  // SIGPIPE/SIGHUP would end the watcher when a reader or a terminal goes
  // away; the mask inherited across exec would hold back signals meant to end it.
  struct ksigaction ign = {1, 0, 0, 0}, dfl = {0, 0, 0, 0};
  u64 empty = 0;
  SC4(NR_rt_sigaction, SIGPIPE, &ign, 0, 8);
  SC4(NR_rt_sigaction, SIGHUP, &ign, 0, 8);
  SC4(NR_rt_sigprocmask, SIG_SETMASK, &empty, 0, 8);
  SC1(NR_chdir, "/");  // hold no directory (a mount point) busy

  // A pidfd turns the exit into a poll event. Where the kernel (< 5.3) or a
  // seccomp filter refuses it, poll waitid(WNOHANG) 4 times a second instead.
  long pidfd = given_fd ? pid : SC2(NR_pidfd_open, pid, 0);
  if (log_path) open_log();

  struct pollfd pf[3];
  struct timespec tick = {0, 250000000}, idle = {1, 0};
  for (;;) {
    int n = 0, ps = -1;
    for (int i = 0; i < 2; i++) {
      if (streams[i].fd >= 0) pf[n].fd = streams[i].fd, pf[n].events = POLLIN, n++;
    }
    if (!reaped && pidfd >= 0) ps = n, pf[n].fd = pidfd, pf[n].events = POLLIN, n++;
    if (reaped && n == 0) break;
    // After the exit, output still in the pipes is copied, but a daemonized
    // grandchild holding the pipe open must not keep the watcher forever.
    struct timespec *t = reaped ? &idle : pidfd < 0 ? &tick : 0;
    for (int i = 0; i < n; i++) pf[i].revents = 0;
    long r = sc(NR_ppoll, (long)pf, n, (long)t, 0, 8, 0);
    if (r < 0) continue;  // EINTR (a stop/continue); nothing else is expected
    if (r == 0 && reaped) break;
    if (!reaped && (pidfd < 0 || pf[ps].revents)) reap(pidfd < 0 ? WNOHANG : 0);
    for (int i = 0, j = 0; i < 2; i++) {
      if (streams[i].fd < 0) continue;
      if (pf[j++].revents) drain(&streams[i]);
    }
  }
  for (int i = 0; i < 2; i++) {
    if (streams[i].fd >= 0) end_stream(&streams[i]);
  }
  if (pidfd >= 0) SC1(NR_close, pidfd);
  if (log_fd >= 0) SC1(NR_close, log_fd);
  write_exit(exit_path);

  if (argc >= 10) {
    // The follow-up command starts clean: default SIGPIPE/SIGHUP.
    SC4(NR_rt_sigaction, SIGPIPE, &dfl, 0, 8);
    SC4(NR_rt_sigaction, SIGHUP, &dfl, 0, 8);
    long r = SC3(NR_execve, argv[9], argv + 9, envp);
    say("execve ", argv[9], -r);
  }
  exit_now(0);
}
