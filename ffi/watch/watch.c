// ctr-watch: what stays behind when `ctr run -d` returns.
//
// The process that created a detached container is the container's parent,
// and only the parent can collect its exit status. Rather than keep a Deno
// runtime (tens of MB) alive for that, it replaces itself with this program,
// which inherits the parentage: it copies the container's output into a
// docker json-file log, reaps the container, records how it ended, and then
// optionally execs a follow-up command (ctr's cleanup/restart step).
//
//   ctr-watch [-a SOCK_FD] [-i STDIN_FD] [-o] [-w] [-h INTERVAL_MS N]
//             PID STDOUT_FD STDERR_FD LOG_PATH MAX_SIZE MAX_FILES EXIT_PATH [-- CMD ARG...]
//
//   -a SOCK_FD   a listening unix stream socket: clients attach there (`ctr attach`);
//                they get the output as it comes and may send input (below)
//   -i STDIN_FD  where attached input goes: the container's stdin pipe, or its pty master
//   -o           stdin once: close STDIN_FD when an attached client's input ends (docker's
//                StdinOnce); never for a pty, whose master is also the output
//   -w           a client is on its way (`start -a`, an attached run): read no output
//                before its hello, or 60 s, so that nothing is missed
//   -h MS N      a health check: the last N words of the command line are a command run
//                every MS milliseconds while the container runs (one at a time); the
//                follow-up command is the words before them
//
// Client protocol, on the socket. A client sends frames of a 4-byte header,
// [type, length (24 bits, little-endian)], and the payload: 'h' hello (1
// byte: 1 stdin, 2 stdout, 4 stderr: the streams it attaches), 'd' input,
// 'e' the end of its input, 'r' a window size (rows, cols: u16 LE each). It
// gets docker's stream frames: [stream, 0, 0, 0, length (32 bits, big-
// endian)] and the data; stream 1 stdout (a pty's output too), 2 stderr, and
// 3 once, at the end: the exit code in decimal, after which the connection
// closes. A client that stops reading for 5 s is dropped: the container never
// waits on it for longer.
//
// PID may be `fd:N`: a pidfd of the container at fd N, for a watcher that
// forked the container itself and exec'd this before it knew its pid.
//
// Its resident cost is the point, so it has no libc, no heap and no dynamic
// loader: raw system calls (ffi/nolibc/nolibc.h), static buffers (untouched
// .bss pages cost nothing), and a _start of its own. Build: scripts/gen_watch.sh.

#include "../nolibc/nolibc.h"

enum { O_WRONLY = 1, O_CREAT = 0100, O_TRUNC = 01000, O_APPEND = 02000, O_NONBLOCK = 04000 };
enum { O_CLOEXEC = 02000000, F_SETFL = 4 };
enum { AT_FDCWD = -100, SEEK_END = 2, CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1 };
enum { P_PID = 1, P_PIDFD = 3, WNOHANG = 1, WEXITED = 4, CLD_EXITED = 1 };
enum { POLLIN = 1, POLLOUT = 4, SIGHUP = 1, SIGKILL = 9, SIGPIPE = 13, SIG_SETMASK = 2 };
enum { SOL_SOCKET = 1, SO_SNDTIMEO = 21, TIOCSWINSZ = 0x5414, NR_close_range = 436 };

struct pollfd { int fd; short events, revents; };

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

// Fixed-width, zero-padded decimal (for the fields of a timestamp).
static char *put_pad(char *o, u64 v, int width) {
  for (int i = width - 1; i >= 0; i--, v /= 10) o[i] = '0' + v % 10;
  return o + width;
}

static u64 now_ms(void) {
  struct timespec ts = {0, 0};
  SC2(NR_clock_gettime, CLOCK_MONOTONIC, &ts);
  return ts.sec * 1000 + ts.nsec / 1000000;
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

// ---- attached clients -----------------------------------------------------

enum { MAX_CLIENTS = 8, WANT_IN = 1, WANT_OUT = 2, WANT_ERR = 4, SAID_HELLO = 8 };
enum { GATE_MS = 60000, SEND_TIMEOUT_S = 5 };

struct client {
  int fd, want;
  u32 got, left, small_got;  // header bytes read; payload bytes to come; of them kept
  int type;
  unsigned char hdr[4], small[4];
};

static struct client clients[MAX_CLIENTS];
static int listen_fd = -1, stdin_fd = -1, stdin_once, stdin_is_pty;
static int gate;  // -w: no output is read before the first hello
static u64 gate_until;
static char inbuf[READ_MAX];
static u32 pend_off, pend_len;  // input in inbuf that STDIN_FD did not take yet
static int eof_after_pending;

static int send_all(int fd, const void *p, u64 n) {
  const char *c = p;
  while (n) {
    long r = SC3(NR_write, fd, c, n);
    if (r == -EINTR) continue;
    if (r <= 0) return 0;  // EPIPE, or EAGAIN after SO_SNDTIMEO: the client is gone or stuck
    c += r;
    n -= r;
  }
  return 1;
}

static void close_stdin(void) {
  if (stdin_fd >= 0 && !stdin_is_pty) SC1(NR_close, stdin_fd);
  stdin_fd = -1;
  pend_len = 0;
}

// The end of a client's input: with -o, the end of the container's.
static void input_ended(struct client *c) {
  if (!stdin_once || !(c->want & WANT_IN)) return;
  if (pend_len) eof_after_pending = 1;
  else close_stdin();
}

static void drop(struct client *c) {
  SC1(NR_close, c->fd);
  c->fd = -1;
  input_ended(c);
}

static void send_frame(struct client *c, int stream, const char *p, u32 n) {
  unsigned char h[8] = {stream, 0, 0, 0, n >> 24, n >> 16, n >> 8, n};
  if (!send_all(c->fd, h, 8) || !send_all(c->fd, p, n)) drop(c);
}

// Output to every client that attached this stream (0 stdout, 1 stderr).
static void broadcast(int stream, const char *p, u32 n) {
  int want = stream == 0 ? WANT_OUT : WANT_ERR;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i].fd >= 0 && (clients[i].want & want)) send_frame(&clients[i], stream + 1, p, n);
  }
}

static void accept_client(void) {
  long fd = SC4(NR_accept4, listen_fd, 0, 0, O_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i].fd >= 0) continue;
    struct timespec tv = {SEND_TIMEOUT_S, 0};  // a struct timeval: seconds, microseconds
    SC5(NR_setsockopt, fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct client *c = &clients[i];
    c->fd = fd, c->want = 0, c->got = 0;
    return;
  }
  SC1(NR_close, fd);  // full
}

// Input for the container, written without blocking: what STDIN_FD does not
// take now waits (and no more input is read) until it can.
static void put_input(const char *p, u32 n) {
  if (stdin_fd < 0) return;
  long r = SC3(NR_write, stdin_fd, p, n);
  if (r == (long)n) return;
  if (r < 0 && r != -EAGAIN && r != -EINTR) {
    close_stdin();  // the container closed its end: nothing more goes in
    return;
  }
  if (r < 0) r = 0;
  pend_off = p + r - inbuf, pend_len = n - r;
}

static void flush_input(void) {
  long r = SC3(NR_write, stdin_fd, inbuf + pend_off, pend_len);
  if (r == -EAGAIN || r == -EINTR) return;
  if (r < 0) {
    close_stdin();
    return;
  }
  pend_off += r, pend_len -= r;
  if (!pend_len && eof_after_pending) eof_after_pending = 0, close_stdin();
}

static void frame_done(struct client *c) {
  c->got = 0;
  switch (c->type) {
    case 'h':
      c->want = (c->small[0] & (WANT_IN | WANT_OUT | WANT_ERR)) | SAID_HELLO;
      gate = 0;
      break;
    case 'e':
      input_ended(c);
      c->want &= ~WANT_IN;
      break;
    case 'r': {
      unsigned short ws[4] = {
        c->small[0] | c->small[1] << 8, c->small[2] | c->small[3] << 8, 0, 0};
      if (stdin_is_pty && stdin_fd >= 0) SC3(NR_ioctl, stdin_fd, TIOCSWINSZ, ws);
      break;
    }
  }
}

// One read per readiness report, as for the streams.
static void client_input(struct client *c) {
  long r;
  if (c->got < 4) {
    r = SC3(NR_read, c->fd, c->hdr + c->got, 4 - c->got);
    if (r == -EINTR || r == -EAGAIN) return;
    if (r <= 0) return drop(c);
    if ((c->got += r) < 4) return;
    c->type = c->hdr[0];
    c->left = c->hdr[1] | c->hdr[2] << 8 | c->hdr[3] << 16;
    c->small_got = 0;
    if (!c->left) frame_done(c);
    return;
  }
  if (c->type == 'd') {
    r = SC3(NR_read, c->fd, inbuf, c->left < READ_MAX ? c->left : READ_MAX);
    if (r == -EINTR || r == -EAGAIN) return;
    if (r <= 0) return drop(c);
    c->left -= r;
    if (c->want & WANT_IN) put_input(inbuf, r);
  } else {
    unsigned char skip[64];
    u32 room = sizeof c->small - c->small_got;
    int keep = room > 0;
    r = SC3(NR_read, c->fd, keep ? c->small + c->small_got : skip,
            keep ? (c->left < room ? c->left : room) : (c->left < 64 ? c->left : 64));
    if (r == -EINTR || r == -EAGAIN) return;
    if (r <= 0) return drop(c);
    if (keep) c->small_got += r;
    c->left -= r;
  }
  if (!c->left) frame_done(c);
}

// ---- health checks --------------------------------------------------------

static long check_every_ms;  // 0: none
static char **check_argv, **envp_all;
static long check_pid = -1, check_pidfd = -1;
static u64 next_check;

static void start_check(void) {
  long pid = FORK();
  if (pid == 0) {
    struct ksigaction dfl = {0, 0, 0, 0};
    SC4(NR_rt_sigaction, SIGPIPE, &dfl, 0, 8);
    SC4(NR_rt_sigaction, SIGHUP, &dfl, 0, 8);
    SC3(NR_close_range, 3, ~0U, 0);  // the container's pipes, the clients: none of its business
    long r = SC3(NR_execve, check_argv[0], check_argv, envp_all);
    say("execve ", check_argv[0], -r);
    exit_now(127);
  }
  if (pid < 0) {
    next_check = now_ms() + check_every_ms;  // try again later
    return;
  }
  check_pid = pid;
  check_pidfd = SC2(NR_pidfd_open, pid, 0);
}

// Reaps the check when it has ended (`flags`: WNOHANG, or 0 to wait).
static void check_ended(int flags) {
  int info[32];
  for (int i = 0; i < 32; i++) info[i] = 0;
  long r = SC5(NR_waitid, P_PID, check_pid, info, WEXITED | flags, 0);
  if (r == -EINTR || (r == 0 && info[4] == 0)) return;
  if (check_pidfd >= 0) SC1(NR_close, check_pidfd);
  check_pid = check_pidfd = -1;
  next_check = now_ms() + check_every_ms;
}

// One read per readiness report: the fds are blocking, a second read might wait.
static void drain(struct stream *s) {
  long r = SC3(NR_read, s->fd, buf, READ_MAX);
  put_time(now);
  if (r > 0) feed(s, buf, r), broadcast(s - streams, buf, r);
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
    what = "usage: ctr-watch [-a SOCK_FD] [-i STDIN_FD] [-o] [-w] [-h INTERVAL_MS N] PID|fd:PIDFD"
           " STDOUT_FD STDERR_FD LOG_PATH MAX_SIZE MAX_FILES EXIT_PATH [-- CMD ARG...]";
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

// The poll timeout: the nearest of the gate's end, the next check, a tick
// when an exit cannot be polled for, and the idle limit after the exit.
static struct timespec *timeout(struct timespec *t, long pidfd) {
  long ms = -1;
  u64 now = now_ms();
  if (reaped) ms = 1000;
  else if (pidfd < 0) ms = 250;
  if (check_pid >= 0 && check_pidfd < 0 && (ms < 0 || ms > 250)) ms = 250;
  if (gate) {
    long left = gate_until > now ? gate_until - now : 0;
    if (ms < 0 || left < ms) ms = left;
  }
  if (check_every_ms && !reaped && check_pid < 0) {
    long left = next_check > now ? next_check - now : 0;
    if (ms < 0 || left < ms) ms = left;
  }
  if (ms < 0) return 0;
  t->sec = ms / 1000, t->nsec = ms % 1000 * 1000000;
  return t;
}

__attribute__((noreturn, used)) void start_c(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
  envp_all = envp;
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
  int a = 1;
  long check_words = 0;
  while (a < argc && argv[a][0] == '-') {
    const char *o = argv[a];
    if (streq(o, "-o")) stdin_once = 1, a++;
    else if (streq(o, "-w")) gate = 1, a++;
    else if (streq(o, "-a") && a + 1 < argc) listen_fd = number(argv[a + 1], "bad SOCK_FD: ", 0), a += 2;
    else if (streq(o, "-i") && a + 1 < argc) stdin_fd = number(argv[a + 1], "bad STDIN_FD: ", 0), a += 2;
    else if (streq(o, "-h") && a + 2 < argc) {
      check_every_ms = number(argv[a + 1], "bad INTERVAL_MS: ", 0);
      check_words = number(argv[a + 2], "bad N: ", 0);
      if (check_every_ms < 1 || check_words < 1) usage("bad -h: ", argv[a + 1]);
      a += 3;
    } else usage("unknown option: ", o);
  }
  long rest = argc - a;
  if (rest != 7 && !(rest >= 9 && streq(argv[a + 7], "--"))) usage(0, 0);
  if (check_words && rest - 8 <= check_words) usage("-h: no follow-up command before the check", 0);
  const char *who = argv[a];
  int given_fd = who[0] == 'f' && who[1] == 'd' && who[2] == ':';
  pid = number(given_fd ? who + 3 : who, "bad PID: ", 0);
  if (given_fd) idtype = P_PIDFD;
  else if (pid <= 0) usage("bad PID: ", who);
  streams[0].fd = number(argv[a + 1], "bad STDOUT_FD: ", 1);
  streams[1].fd = number(argv[a + 2], "bad STDERR_FD: ", 1);
  streams[0].name = "stdout", streams[0].line = lines[0];
  streams[1].name = "stderr", streams[1].line = lines[1];
  if (!streq(argv[a + 3], "-")) log_path = abs_path(argv[a + 3], "LOG_PATH is not an absolute path: ");
  max_size = number(argv[a + 4], "bad MAX_SIZE: ", 0);
  max_files = number(argv[a + 5], "bad MAX_FILES: ", 0);
  if (max_files < 1) usage("bad MAX_FILES: ", argv[a + 5]);
  const char *exit_path = abs_path(argv[a + 6], "EXIT_PATH is not an absolute path: ");
  char **then = rest >= 9 ? argv + a + 8 : 0;
  if (check_words) {
    static char *words[64];
    if (check_words >= 64) usage("-h: too many words", 0);
    for (long i = 0; i < check_words; i++) words[i] = argv[argc - check_words + i];
    check_argv = words;
    argv[argc - check_words] = 0;  // the follow-up command ends where the check begins
  }
  stdin_is_pty = stdin_fd >= 0 && stdin_fd == streams[0].fd;
  if (stdin_fd >= 0) SC3(NR_fcntl, stdin_fd, F_SETFL, O_NONBLOCK);

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
  u64 start = now_ms();
  gate_until = start + GATE_MS;
  next_check = start + check_every_ms;

  enum { NFDS = 2 + 1 + 1 + MAX_CLIENTS + 1 + 1 };
  struct pollfd pf[NFDS];
  struct timespec t;
  for (;;) {
    if (gate && now_ms() >= gate_until) gate = 0;
    if (check_every_ms && !reaped && check_pid < 0 && now_ms() >= next_check) start_check();
    int n = 0, ps = -1, ls = -1, in = -1, hs = -1, ss[2] = {-1, -1}, cs[MAX_CLIENTS];
    for (int i = 0; i < 2; i++) {
      if (streams[i].fd >= 0 && !gate) ss[i] = n, pf[n].fd = streams[i].fd, pf[n].events = POLLIN, n++;
    }
    int outputs = n;
    if (!reaped && pidfd >= 0) ps = n, pf[n].fd = pidfd, pf[n].events = POLLIN, n++;
    // Clients are taken until the end: one that comes as the container ends gets its output.
    if (listen_fd >= 0) ls = n, pf[n].fd = listen_fd, pf[n].events = POLLIN, n++;
    for (int i = 0; i < MAX_CLIENTS; i++) {
      cs[i] = -1;
      if (clients[i].fd >= 0 && !pend_len) {
        cs[i] = n, pf[n].fd = clients[i].fd, pf[n].events = POLLIN, n++;
      }
    }
    if (pend_len && stdin_fd >= 0) in = n, pf[n].fd = stdin_fd, pf[n].events = POLLOUT, n++;
    if (check_pidfd >= 0) hs = n, pf[n].fd = check_pidfd, pf[n].events = POLLIN, n++;
    if (reaped && outputs == 0 && !gate) break;
    for (int i = 0; i < n; i++) pf[i].revents = 0;
    long r = sc(NR_ppoll, (long)pf, n, (long)timeout(&t, pidfd), 0, 8, 0);
    if (r < 0) continue;  // EINTR (a stop/continue); nothing else is expected
    if (r == 0 && reaped && !gate) break;
    if (!reaped && (pidfd < 0 || pf[ps].revents)) reap(pidfd < 0 ? WNOHANG : 0);
    if (check_pid >= 0 && (hs < 0 || pf[hs].revents)) check_ended(WNOHANG);
    if (ls >= 0 && pf[ls].revents) accept_client();
    if (in >= 0 && pf[in].revents) flush_input();
    for (int i = 0; i < MAX_CLIENTS; i++) {
      if (cs[i] >= 0 && clients[i].fd >= 0 && pf[cs[i]].revents) client_input(&clients[i]);
    }
    for (int i = 0; i < 2; i++) {
      if (ss[i] >= 0 && streams[i].fd >= 0 && pf[ss[i]].revents) drain(&streams[i]);
    }
  }
  for (int i = 0; i < 2; i++) {
    if (streams[i].fd >= 0) end_stream(&streams[i]);
  }
  if (pidfd >= 0) SC1(NR_close, pidfd);
  if (log_fd >= 0) SC1(NR_close, log_fd);
  // A check still running would outlive its container: end it now.
  if (check_pid >= 0) SC2(NR_kill, check_pid, SIGKILL), check_ended(0);
  write_exit(exit_path);
  // Attached clients learn the exit code, then the end.
  static char code[24];
  u32 len = put_dec(code, exit_code) - code;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i].fd < 0) continue;
    send_frame(&clients[i], 3, code, len);
    if (clients[i].fd >= 0) SC1(NR_close, clients[i].fd), clients[i].fd = -1;
  }
  if (listen_fd >= 0) SC1(NR_close, listen_fd);
  if (stdin_fd >= 0 && !stdin_is_pty) SC1(NR_close, stdin_fd);

  if (then) {
    // The follow-up command starts clean: default SIGPIPE/SIGHUP.
    SC4(NR_rt_sigaction, SIGPIPE, &dfl, 0, 8);
    SC4(NR_rt_sigaction, SIGHUP, &dfl, 0, 8);
    long r = SC3(NR_execve, then[0], then, envp);
    say("execve ", then[0], -r);
  }
  exit_now(0);
}
