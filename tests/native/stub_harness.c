// Native checks of the plan executor in ffi/stub/*.S.
// Usage: stub_harness STUB.bin [qemu]
// STUB.bin is the raw machine code (ctr_syscall at +0, ctr_spawn at +64).
// With "qemu", a CLONE_VM spawn refused with -EINVAL is reported as SKIP:
// qemu-user only accepts CLONE_VM together with the full thread flag set.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "unsupported architecture"
#endif

struct ctx {
  uint64_t flags, stack, plan, count, errfd, pidfd, mask_all, mask_saved, clone_args;
};
// The kernel's struct clone_args up to cgroup (CLONE_ARGS_SIZE_VER2).
struct clone_args3 {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};
_Static_assert(sizeof(struct clone_args3) == 88, "clone_args is 88 bytes");
struct entry {
  uint64_t nr, a[6];
  int64_t tol1, tol2;
  uint64_t flags, save, jump;
};
_Static_assert(sizeof(struct entry) == 96, "entry is 96 bytes");
_Static_assert(sizeof(struct ctx) == 72, "ctx is 72 bytes");

#define F_FORK 1u
#define F_EXPECT 2u
#define F_IND(i) (1u << (8 + (i)))

typedef long (*syscall_fn)(long, long, long, long, long, long, long);
typedef long (*spawn_fn)(struct ctx *);
static syscall_fn ctr_syscall;
static spawn_fn ctr_spawn;
static int failures, under_qemu, subreaper;

static void result(const char *name, int ok, const char *why) {
  printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name, why ? ": " : "", why ? why : "");
  if (!ok) failures++;
}

static struct entry E(long nr, long a0, long a1, long a2, long a3, long a4) {
  struct entry e = {0};
  e.nr = nr;
  e.a[0] = a0; e.a[1] = a1; e.a[2] = a2; e.a[3] = a3; e.a[4] = a4;
  return e;
}

// Output of one spawn: pid (or -errno), wait status, error record.
struct run {
  long pid;
  int status, mask_ok;  // mask_ok: ctr_spawn gave back the caller's signal mask
  ssize_t errlen;
  int64_t rec[2];
};

static struct run spawn3(uint64_t flags, uint64_t stack, struct entry *plan, size_t n,
                         struct clone_args3 *args) {
  struct run r = {0};
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) { perror("pipe2"); r.pid = -errno; return r; }
  sigset_t before, after;
  memset(&before, 0, sizeof before);  // the kernel fills only the first 8 bytes
  memset(&after, 0, sizeof after);
  sigprocmask(SIG_SETMASK, NULL, &before);
  struct ctx c = {flags, stack, (uintptr_t)plan, n, (uint64_t)ep[1], 0, ~0ull, 0, (uintptr_t)args};
  r.pid = ctr_spawn(&c);
  close(ep[1]);
  sigprocmask(SIG_SETMASK, NULL, &after);
  r.mask_ok = memcmp(&before, &after, sizeof before) == 0;
  if (r.pid > 0) {
    r.errlen = read(ep[0], r.rec, sizeof r.rec);  // 0 (EOF) when the plan succeeded
    if (waitpid(r.pid, &r.status, 0) != r.pid) r.status = -1;
  }
  close(ep[0]);
  return r;
}

static struct run spawn(uint64_t flags, uint64_t stack, struct entry *plan, size_t n) {
  return spawn3(flags, stack, plan, n, NULL);
}

static int exited(const struct run *r, int code) {
  return r->pid > 0 && r->mask_ok && WIFEXITED(r->status) && WEXITSTATUS(r->status) == code;
}

static int read_is(int fd, const char *want) {
  char buf[64] = {0};
  size_t got = 0;
  ssize_t k;
  while (got < sizeof buf - 1 && (k = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += k;
  return got == strlen(want) && memcmp(buf, want, got) == 0;
}

static void test_syscall(void) {
  result("a: ctr_syscall(getpid) == getpid()",
         ctr_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0) == getpid(), NULL);
  result("a: ctr_syscall(close(999)) == -EBADF",
         ctr_syscall(SYS_close, 999, 0, 0, 0, 0, 0) == -EBADF, NULL);
}

static void test_plan_ok(void) {
  int p[2];
  pipe(p);
  struct entry plan[2] = {E(SYS_write, p[1], (long)"hi", 2, 0, 0), E(SYS_close, 999, 0, 0, 0, 0)};
  plan[1].tol1 = EBADF;
  struct run r = spawn(SIGCHLD, 0, plan, 2);
  close(p[1]);
  result("b: plan runs, tolerated EBADF, exit 0, EOF on errfd",
         exited(&r, 0) && r.errlen == 0 && read_is(p[0], "hi"), NULL);
  close(p[0]);
}

static void test_plan_fail(void) {
  int p[2];
  pipe(p);
  struct entry plan[3] = {E(SYS_write, p[1], (long)"hi", 2, 0, 0), E(SYS_close, 999, 0, 0, 0, 0),
                          E(SYS_write, p[1], (long)"no", 2, 0, 0)};
  struct run r = spawn(SIGCHLD, 0, plan, 3);
  close(p[1]);
  result("c: failed entry -> record {1, -EBADF}, exit 127",
         exited(&r, 127) && r.errlen == 16 && r.rec[0] == 1 && r.rec[1] == -EBADF &&
             read_is(p[0], "hi"),
         NULL);
  close(p[0]);
}

static void test_save_indirect(void) {
  int p[2];
  pipe(p);
  uint64_t slot = 0;
  struct entry plan[2] = {E(SYS_fcntl, p[1], F_DUPFD, 100, 0, 0),
                          E(SYS_write, (long)&slot, (long)"dup", 3, 0, 0)};
  plan[0].save = (uintptr_t)&slot;
  plan[1].flags = F_IND(0);
  struct run r = spawn(SIGCHLD, 0, plan, 2);
  close(p[1]);
  result("d: saved fd used through an indirect argument",
         exited(&r, 0) && r.errlen == 0 && read_is(p[0], "dup"), NULL);
  close(p[0]);
}

static void test_expect(void) {
  int p[2];
  pipe(p);
  close(p[1]);
  char buf[1];
  struct entry plan[1] = {E(SYS_read, p[0], (long)buf, 1, 0, 0)};
  plan[0].flags = F_EXPECT;
  struct run r = spawn(SIGCHLD, 0, plan, 1);
  result("e: EXPECT on EOF -> record {0, 0}, exit 127",
         exited(&r, 127) && r.errlen == 16 && r.rec[0] == 0 && r.rec[1] == 0, NULL);
  close(p[0]);
}

static void test_fork(void) {
  int p[2];
  pipe(p);
  // Raw clone(SIGCHLD, 0, 0, 0, 0) is a fork on both arches (argument 4/5 order differs).
  struct entry plan[2] = {E(SYS_clone, SIGCHLD, 0, 0, 0, 0),
                          E(SYS_write, p[1], (long)"child", 5, 0, 0)};
  plan[0].flags = F_FORK;
  struct run r = spawn(SIGCHLD, 0, plan, 2);
  close(p[1]);
  int ok = exited(&r, 0) && r.errlen == 0 && read_is(p[0], "child");
  // As subreaper we also get the reparented grandchild: reap it, check exit 0.
  // qemu-user (7.2) refuses PR_SET_CHILD_SUBREAPER, so there it goes to init.
  if (subreaper) {
    int st = 0;
    pid_t g = wait(&st);
    ok = ok && g > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  result("f: FORK -> parent side exits 0, child side continues", ok,
         subreaper ? NULL : "grandchild not reaped (no subreaper)");
  close(p[0]);
}

// A FORK whose parent side jumps: the parent skips the child's entries and
// goes on at its own (here a write of "parent"), the child runs its entries.
static void test_fork_jump(void) {
  int p[2], q[2];
  pipe(p);
  pipe(q);
  struct entry plan[4] = {E(SYS_clone, SIGCHLD, 0, 0, 0, 0),
                          E(SYS_write, p[1], (long)"child", 5, 0, 0),
                          E(SYS_exit_group, 0, 0, 0, 0, 0),
                          E(SYS_write, q[1], (long)"parent", 6, 0, 0)};
  plan[0].flags = F_FORK;
  plan[0].jump = 3;
  struct run r = spawn(SIGCHLD, 0, plan, 4);
  close(p[1]);
  close(q[1]);
  int ok = exited(&r, 0) && r.errlen == 0 && read_is(p[0], "child") && read_is(q[0], "parent");
  if (subreaper) {
    int st = 0;
    pid_t g = wait(&st);
    ok = ok && g > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  result("i: FORK with a jump -> the parent side goes on at its own entries", ok, NULL);
  close(p[0]);
  close(q[0]);
}

static void test_clone_vm(void) {
  size_t size = 64 * 1024;
  char *stk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  int p[2];
  pipe(p);
  uint64_t slot = 0;
  struct entry plan[2] = {E(SYS_getpid, 0, 0, 0, 0, 0), E(SYS_write, p[1], (long)"vm", 2, 0, 0)};
  plan[0].save = (uintptr_t)&slot;  // only visible here when memory is shared
  struct run r = spawn(CLONE_VM | SIGCHLD, (uintptr_t)(stk + size), plan, 2);
  close(p[1]);
  // qemu-user's do_fork treats any CLONE_VM clone as thread creation and
  // returns EINVAL unless all of CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM are
  // set, so a CLONE_VM process with its own stack cannot be emulated there.
  if (under_qemu && r.pid == -EINVAL) {
    printf("SKIP g: CLONE_VM|SIGCHLD: qemu-user rejects CLONE_VM without the thread flags (EINVAL)\n");
  } else {
    result("g: CLONE_VM|SIGCHLD on its own stack, shared memory",
           exited(&r, 0) && r.errlen == 0 && (long)slot == r.pid && read_is(p[0], "vm"), NULL);
  }
  close(p[0]);
  munmap(stk, size);
}

// clone3 with CLONE_VM|CLONE_PIDFD: the stack is given as base and size, the
// pidfd comes back through clone_args.
static void test_clone3(void) {
  size_t size = 64 * 1024;
  char *stk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  int p[2];
  pipe(p);
  uint64_t slot = 0;
  int pidfd = -1;
  struct entry plan[2] = {E(SYS_getpid, 0, 0, 0, 0, 0), E(SYS_write, p[1], (long)"c3", 2, 0, 0)};
  plan[0].save = (uintptr_t)&slot;
  struct clone_args3 args = {0};
  args.flags = CLONE_VM | CLONE_PIDFD;
  args.pidfd = (uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  args.stack = (uintptr_t)stk;
  args.stack_size = size;
  struct run r = spawn3(0, 0, plan, 2, &args);
  close(p[1]);
  if (under_qemu && (r.pid == -ENOSYS || r.pid == -EINVAL)) {
    printf("SKIP h: clone3: qemu-user does not emulate it with CLONE_VM (%s)\n",
           r.pid == -ENOSYS ? "ENOSYS" : "EINVAL");
  } else {
    result("h: clone3 CLONE_VM|CLONE_PIDFD on its own stack, shared memory, a pidfd",
           exited(&r, 0) && r.errlen == 0 && (long)slot == r.pid && pidfd > 2 &&
               read_is(p[0], "c3"),
           NULL);
  }
  if (pidfd >= 0) close(pidfd);
  close(p[0]);
  munmap(stk, size);
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s STUB.bin [qemu]\n", argv[0]); return 2; }
  under_qemu = argc > 2 && strcmp(argv[2], "qemu") == 0;
  int fd = open(argv[1], O_RDONLY);
  char code[4096];
  ssize_t n = fd < 0 ? -1 : read(fd, code, sizeof code);
  if (n <= 64) { fprintf(stderr, "cannot read stub %s\n", argv[1]); return 2; }
  close(fd);
  void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memcpy(mem, code, n);
  __builtin___clear_cache((char *)mem, (char *)mem + n);
  if (mprotect(mem, 4096, PROT_READ | PROT_EXEC) < 0) { perror("mprotect"); return 2; }
  ctr_syscall = (syscall_fn)mem;
  ctr_spawn = (spawn_fn)((char *)mem + 64);
  subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;

  test_syscall();
  test_plan_ok();
  test_plan_fail();
  test_save_indirect();
  test_expect();
  test_fork();
  test_fork_jump();
  test_clone_vm();
  test_clone3();
  printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
