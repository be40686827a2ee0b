/*
 * Builds a seccomp filter with libseccomp from rules on stdin, as runc does
 * (seccomp_init with the default action, the extra architectures, one
 * seccomp_rule_add_array per rule, unknown names skipped), writes the
 * program seccomp_export_bpf makes to the file named by its argument, and
 * prints its length in instructions, the rules added, and the names
 * libseccomp does not know. For scripts/bench_seccomp.sh, which compares
 * it with ctr's compiler.
 *
 * Input, one item a line:
 *   native ARCH            the filter's first architecture (libseccomp's name: x86_64, aarch64)
 *   arch ARCH              another architecture (x86, x32, arm)
 *   optimize N             SCMP_FLTATR_CTL_OPTIMIZE (runc sets 2 above 32 rules)
 *   default ACTION         the default action, as the 32-bit SECCOMP_RET value
 *   rule ACTION NAME N [INDEX OP VALUE VALUE2]...   OP: libseccomp's enum scmp_compare
 *
 * Build: gcc -O2 -o seccomp_export scripts/seccomp_export.c -lseccomp
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  char line[4096];
  scmp_filter_ctx ctx = NULL;
  uint32_t native = 0;
  int optimize = 1, skipped = 0, rules = 0;
  while (fgets(line, sizeof line, stdin)) {
    char *save = NULL, *word = strtok_r(line, " \n", &save);
    if (!word) continue;
    if (!strcmp(word, "native")) {
      native = seccomp_arch_resolve_name(strtok_r(NULL, " \n", &save));
    } else if (!strcmp(word, "optimize")) {
      optimize = atoi(strtok_r(NULL, " \n", &save));
    } else if (!strcmp(word, "default")) {
      ctx = seccomp_init(strtoul(strtok_r(NULL, " \n", &save), NULL, 0));
      if (!ctx) return fprintf(stderr, "seccomp_init failed\n"), 1;
      if (native && native != seccomp_arch_native()) {
        seccomp_arch_add(ctx, native);
        seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
      }
      seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
      if (optimize != 1 && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, optimize)) {
        return fprintf(stderr, "optimize %d is not supported\n", optimize), 1;
      }
    } else if (!strcmp(word, "arch")) {
      int rc = seccomp_arch_add(ctx, seccomp_arch_resolve_name(strtok_r(NULL, " \n", &save)));
      if (rc && rc != -EEXIST) return fprintf(stderr, "seccomp_arch_add: %d\n", rc), 1;
    } else if (!strcmp(word, "rule")) {
      uint32_t action = strtoul(strtok_r(NULL, " \n", &save), NULL, 0);
      const char *name = strtok_r(NULL, " \n", &save);
      unsigned n = atoi(strtok_r(NULL, " \n", &save));
      struct scmp_arg_cmp args[6];
      for (unsigned i = 0; i < n && i < 6; i++) {
        args[i].arg = atoi(strtok_r(NULL, " \n", &save));
        args[i].op = atoi(strtok_r(NULL, " \n", &save));
        args[i].datum_a = strtoull(strtok_r(NULL, " \n", &save), NULL, 0);
        args[i].datum_b = strtoull(strtok_r(NULL, " \n", &save), NULL, 0);
      }
      int nr = seccomp_syscall_resolve_name(name);
      if (nr == __NR_SCMP_ERROR) {
        fprintf(stderr, "%s\n", name);
        skipped++;
        continue;
      }
      int rc = seccomp_rule_add_array(ctx, action, nr, n, args);
      if (rc) return fprintf(stderr, "seccomp_rule_add %s: %s\n", name, strerror(-rc)), 1;
      rules++;
    }
  }
  if (!ctx) return fprintf(stderr, "no default action\n"), 1;
  FILE *f = argc > 1 ? fopen(argv[1], "w+") : tmpfile();
  if (!f) return perror("fopen"), 1;
  int rc = seccomp_export_bpf(ctx, fileno(f));
  if (rc) return fprintf(stderr, "seccomp_export_bpf: %d\n", rc), 1;
  printf("%ld %d %d\n", lseek(fileno(f), 0, SEEK_END) / 8, rules, skipped);
  return 0;
}
