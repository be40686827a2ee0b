// ctr-init: PID 1 of a container run with --init (docker-init's, tini's, job).
//
//   ctr-init -- CMD [ARG...]
//
// A container's first process is PID 1 of its pid namespace, which has two
// duties most programs do not know about: orphans are reparented to it and
// stay zombies until it reaps them, and the kernel delivers it no signal it
// has left at the default action (a shell or a server that never installed a
// SIGTERM handler ignores `ctr stop`). This program takes that place: it
// starts the command as its child, passes every signal it receives on to the
// child, reaps whatever exits, and when the child ends it exits with the
// child's code (128+N when a signal N killed it).
//
// The plan runs it from a memfd (memfd_create, write, execveat): no file on the
// host, none in the container's root. The command is looked up along the PATH
// of the environment it is given, as execvp does. Build: scripts/gen_init.sh.

#include "../nolibc/nolibc.h"

enum { SIG_SETMASK = 2, SIGCHLD = 17, SIGTTIN = 21, SIGTTOU = 22, WNOHANG = 1 };
enum { TIOCSPGRP = 0x5410, PATH_MAX = 4096 };

static void say(const char *a, const char *b, const char *c) {
  static char msg[PATH_MAX + 256];
  char *o = put(msg, "ctr-init: ");
  o = put(o, a);
  if (b) {
    u32 n = slen(b);
    if (n > PATH_MAX) n = PATH_MAX;
    for (u32 i = 0; i < n; i++) *o++ = b[i];
  }
  if (c) o = put(o, c);
  *o++ = '\n';
  write_all(2, msg, o - msg);
}

static const char *errtext(long e) {
  switch (e) {
    case ENOENT: return "No such file or directory";
    case EACCES: return "Permission denied";
    case ENOEXEC: return "Exec format error";
    case ENOTDIR: return "Not a directory";
    case EISDIR: return "Is a directory";
    case ELOOP: return "Too many levels of symbolic links";
    case E2BIG: return "Argument list too long";
    case ENOMEM: return "Cannot allocate memory";
    case ETXTBSY: return "Text file busy";
    case EPERM: return "Operation not permitted";
    case EIO: return "Input/output error";
    default: return "exec failed";
  }
}

// The value of PATH in envp, or the default a container gets.
static const char *path_of(char **envp) {
  for (char **e = envp; *e; e++) {
    const char *s = *e;
    if (s[0] == 'P' && s[1] == 'A' && s[2] == 'T' && s[3] == 'H' && s[4] == '=') return s + 5;
  }
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

// execvp without a libc: a name with a slash as it is, else each PATH entry
// in turn, going on past the errors that mean "not here" (as execvp does).
static __attribute__((noreturn)) void run_command(char **argv, char **envp) {
  static char full[PATH_MAX + 1];
  const char *cmd = argv[0];
  long err = ENOENT;
  int slash = 0;
  for (const char *c = cmd; *c; c++) slash |= *c == '/';
  if (slash || !*cmd) {
    err = *cmd ? -SC3(NR_execve, cmd, argv, envp) : ENOENT;
  } else {
    int denied = 0;
    const char *p = path_of(envp);
    for (;;) {
      const char *end = p;
      while (*end && *end != ':') end++;
      u32 dirlen = end - p, cmdlen = slen(cmd);
      if (dirlen + cmdlen + 2 <= sizeof full) {
        char *o = full;
        for (u32 i = 0; i < dirlen; i++) *o++ = p[i];
        if (dirlen == 0) *o++ = '.';  // an empty entry is the working directory
        *o++ = '/';
        o = put(o, cmd);
        *o = 0;
        err = -SC3(NR_execve, full, argv, envp);
        if (err == EACCES) denied = 1;
        else if (err != ENOENT && err != ENOTDIR) break;
      }
      if (!*end) break;
      p = end + 1;
    }
    if (denied && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  }
  static char why[64];
  put(put(why, " failed: "), errtext(err))[0] = 0;
  say("exec ", cmd, why);
  exit_now(err == ENOENT ? 127 : 126);
}

__attribute__((noreturn, used)) void start_c(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
  int first = argc > 1 && streq(argv[1], "--") ? 2 : 1;
  if (argc <= first) {
    say("usage: ctr-init [--] CMD [ARG...]", 0, 0);
    exit_now(125);
  }
  // Every signal waits for sigtimedwait below; the child gets the mask back empty.
  u64 all = ~0UL, none = 0;
  SC4(NR_rt_sigprocmask, SIG_SETMASK, &all, 0, 8);
  long child = FORK();
  if (child < 0) {
    say("fork failed", 0, 0);
    exit_now(125);
  }
  if (child == 0) {
    // On a terminal the command leads its own process group in the foreground,
    // so that ^C reaches it once (from the terminal), not twice (and via us).
    long me = SC1(NR_getpid, 0);
    if (SC2(NR_setpgid, 0, 0) == 0) SC3(NR_ioctl, 0, TIOCSPGRP, &me);
    SC4(NR_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
    run_command(argv + first, envp);
  }
  // A stopped init would hold the container: ignore the terminal's stop signals.
  struct ksigaction ign = {1, 0, 0, 0};
  SC4(NR_rt_sigaction, SIGTTIN, &ign, 0, 8);
  SC4(NR_rt_sigaction, SIGTTOU, &ign, 0, 8);
  for (;;) {
    int info[32];
    long sig = SC4(NR_rt_sigtimedwait, &all, info, 0, 8);
    if (sig <= 0) continue;  // EINTR
    if (sig != SIGCHLD) {
      // Passed on as it came; a child already gone is reaped at its SIGCHLD.
      SC2(NR_kill, child, sig);
      continue;
    }
    // One SIGCHLD may stand for several exits: reap until none is left.
    for (;;) {
      int status = 0;
      long pid = SC4(NR_wait4, -1, &status, WNOHANG, 0);
      if (pid <= 0) break;
      if (pid != child) continue;  // an orphan: reaped, nothing more
      int code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
      exit_now(code);
    }
  }
}
