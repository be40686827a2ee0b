// What ctr's small static programs (ffi/watch/watch.c, ffi/init/init.c) use
// instead of a libc: raw system calls for x86_64 and aarch64, an entry point
// that hands the initial stack to start_c(), and a few string helpers.
//
// They run from a memfd (execveat), so they must be self-contained; and the
// point of both is to cost nothing while they wait: no heap, no loader, static
// buffers only (untouched .bss pages cost nothing).

#ifndef CTR_NOLIBC_H
#define CTR_NOLIBC_H

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "ctr's static programs support x86_64 and aarch64"
#endif

typedef unsigned long u64;
typedef unsigned int u32;

#if defined(__x86_64__)
enum {
  NR_read = 0, NR_write = 1, NR_close = 3, NR_lseek = 8, NR_rt_sigaction = 13,
  NR_rt_sigprocmask = 14, NR_ioctl = 16, NR_getpid = 39, NR_socket = 41, NR_sendto = 44,
  NR_shutdown = 48, NR_setsockopt = 54, NR_clone = 56, NR_execve = 59, NR_wait4 = 61,
  NR_kill = 62, NR_fcntl = 72, NR_ftruncate = 77, NR_chdir = 80, NR_setpgid = 109,
  NR_rt_sigtimedwait = 128, NR_clock_gettime = 228, NR_exit_group = 231, NR_waitid = 247,
  NR_openat = 257, NR_unlinkat = 263, NR_ppoll = 271, NR_accept4 = 288, NR_renameat2 = 316,
  NR_pidfd_open = 434,
};

static __attribute__((unused)) long sc(long n, long a, long b, long c, long d, long e, long f) {
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
  NR_rt_sigprocmask = 135, NR_ioctl = 29, NR_getpid = 172, NR_socket = 198, NR_sendto = 206,
  NR_shutdown = 210, NR_setsockopt = 208, NR_clone = 220, NR_execve = 221, NR_wait4 = 260,
  NR_kill = 129, NR_fcntl = 25, NR_ftruncate = 46, NR_chdir = 49, NR_setpgid = 154,
  NR_rt_sigtimedwait = 137, NR_clock_gettime = 113, NR_exit_group = 94, NR_waitid = 95,
  NR_openat = 56, NR_unlinkat = 35, NR_ppoll = 73, NR_accept4 = 242, NR_renameat2 = 276,
  NR_pidfd_open = 434,
};

static __attribute__((unused)) long sc(long n, long a, long b, long c, long d, long e, long f) {
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

// fork(): clone with SIGCHLD and nothing shared (the same arguments on both).
#define FORK() sc(NR_clone, 17, 0, 0, 0, 0, 0)

#define SC1(n, a) sc(n, (long)(a), 0, 0, 0, 0, 0)
#define SC2(n, a, b) sc(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define SC3(n, a, b, c) sc(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SC4(n, a, b, c, d) sc(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SC5(n, a, b, c, d, e) sc(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

enum {
  EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, E2BIG = 7, ENOEXEC = 8, ECHILD = 10, EAGAIN = 11,
  ENOMEM = 12, EACCES = 13, ENOTDIR = 20, EISDIR = 21, ETXTBSY = 26, ENOSYS = 38, ELOOP = 40,
};

struct timespec { long sec, nsec; };
// struct sigaction as the kernel takes it (the same on both: sa_restorer
// exists on aarch64 too). Only the handler is set: SIG_DFL 0, SIG_IGN 1.
struct ksigaction { u64 handler, flags, restorer, mask; };

static __attribute__((noreturn)) void exit_now(int code) {
  for (;;) SC1(NR_exit_group, code);
}

static __attribute__((unused)) u32 slen(const char *s) {
  u32 n = 0;
  while (s[n]) n++;
  return n;
}

static __attribute__((unused)) char *put(char *o, const char *s) {
  while (*s) *o++ = *s++;
  return o;
}

static __attribute__((unused)) char *put_dec(char *o, long v) {
  char tmp[24];
  int n = 0;
  u64 u = v < 0 ? -(u64)v : (u64)v;
  if (v < 0) *o++ = '-';
  do tmp[n++] = '0' + u % 10; while ((u /= 10) != 0);
  while (n) *o++ = tmp[--n];
  return o;
}

static __attribute__((unused)) void write_all(int fd, const char *p, u64 n) {
  while (n) {
    long r = SC3(NR_write, fd, p, n);
    if (r == -EINTR) continue;
    if (r <= 0) return;
    p += r;
    n -= r;
  }
}

static __attribute__((unused)) int streq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

#endif
