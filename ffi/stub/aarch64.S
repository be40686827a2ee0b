// ctr plan executor, aarch64. Position-independent; no stack use except the
// 16-byte error record (and 16 bytes for x19/x20 in the parent path).
// Assembled by scripts/gen_stub.sh into ffi/stub_code.ts.
//
// Entry points (AAPCS64):
//   +0   int64 ctr_syscall(nr, a0, a1, a2, a3, a4, a5)  raw syscall, -errno on error
//   +64  int64 ctr_spawn(struct ctx *)                   clone, child runs the plan
//
// struct ctx { u64 flags; u64 stack; u64 plan; u64 count; u64 errfd;
//              u64 pidfd; u64 mask_all; u64 mask_saved; u64 clone_args; }
// clone_args, when not 0, is a struct clone_args of 88 bytes for clone3
// (flags, stack and pidfd then come from it); else clone is used.
// struct entry (96 bytes) { u64 nr; u64 a[6]; i64 tol1; i64 tol2; u64 flags;
//              u64 save; u64 jump; }
// entry.flags: bit0 FORK (ret > 0, the parent side: go `jump` entries on,
//              or exit_group(0) when jump is 0),
//              bit1 EXPECT (ret == 0 is a failure: EOF on the sync pipe),
//              bit8+i: a[i] holds the address of the real argument.
// A result is a failure when it is in [-4095, -1] and is not -tol1 or -tol2.
// On a failed entry the child writes {u64 index; i64 ret} to errfd and exits 127.
//
// Syscalls: x8 = nr, x0..x5 = args, svc #0, result in x0; the kernel keeps
// every other register, and a clone child starts with the parent's registers
// (x0 = 0), so the child keeps using x19 (ctx) after clone. Raw aarch64 clone
// takes (flags, newsp, parent_tid, tls, child_tid). A ctx.stack given with
// CLONE_VM must be 16-byte aligned (sp alignment for the error record).
// Registers: x19 ctx, x20 child pid (parent), x21 entry, x22 entries left,
// x23 index, x24 entry.flags.
        .text
        .globl ctr_syscall
ctr_syscall:
        mov x8, x0
        mov x0, x1
        mov x1, x2
        mov x2, x3
        mov x3, x4
        mov x4, x5
        mov x5, x6
        svc #0
        ret
        .balignl 64, 0xd4200000     // pad with brk #0
        .globl ctr_spawn
ctr_spawn:
        stp x19, x20, [sp, #-16]!
        mov x19, x0
        mov x8, #135                // rt_sigprocmask(SIG_SETMASK, &all, &saved, 8)
        mov x0, #2
        add x1, x19, #48
        add x2, x19, #56
        mov x3, #8
        svc #0
        ldr x0, [x19, #64]
        cbz x0, 1f
        mov x8, #435                // clone3(&clone_args, 88)
        mov x1, #88
        svc #0
        b 2f
1:      mov x8, #220                // clone(flags, stack, &pidfd, 0, 0)
        ldp x0, x1, [x19]
        add x2, x19, #40
        mov x3, #0
        mov x4, #0
        svc #0
2:      cbz x0, child
        mov x20, x0
        mov x8, #135                // rt_sigprocmask(SIG_SETMASK, &saved, 0, 8)
        mov x0, #2
        add x1, x19, #56
        mov x2, #0
        mov x3, #8
        svc #0
        mov x0, x20
        ldp x19, x20, [sp], #16
        ret
child:
        ldp x21, x22, [x19, #16]    // plan, count
        mov x23, #0
next:
        cbz x22, done
        ldr x24, [x21, #72]
        ldp x0, x1, [x21, #8]
        ldp x2, x3, [x21, #24]
        ldp x4, x5, [x21, #40]
        tbz x24, #8, 1f
        ldr x0, [x0]
1:      tbz x24, #9, 1f
        ldr x1, [x1]
1:      tbz x24, #10, 1f
        ldr x2, [x2]
1:      tbz x24, #11, 1f
        ldr x3, [x3]
1:      tbz x24, #12, 1f
        ldr x4, [x4]
1:      tbz x24, #13, 1f
        ldr x5, [x5]
1:      ldr x8, [x21]
        svc #0
        ldr x9, [x21, #80]
        cbz x9, 1f
        str x0, [x9]
1:      tbz x24, #0, 1f
        cmp x0, #0
        b.le 1f
        ldr x9, [x21, #88]          // FORK, parent side: jump x9 entries on, or exit
        cbz x9, done
        mov x10, #96
        madd x21, x9, x10, x21
        add x23, x23, x9
        sub x22, x22, x9
        b next
1:      tbz x24, #1, 1f
        cbz x0, fail
1:      cmn x0, #4095               // carry clear: x0 < (u64)-4095, not an error
        b.lo ok
        neg x9, x0
        ldp x10, x11, [x21, #56]    // tol1, tol2
        cmp x9, x10
        b.eq ok
        cmp x9, x11
        b.eq ok
fail:
        stp x23, x0, [sp, #-16]!    // record {index, ret}
        mov x8, #64                 // write(errfd, &record, 16)
        ldr x0, [x19, #32]
        mov x1, sp
        mov x2, #16
        svc #0
        mov x0, #127
        b leave
ok:
        add x21, x21, #96
        add x23, x23, #1
        sub x22, x22, #1
        b next
done:
        mov x0, #0
leave:
        mov x8, #94                 // exit_group
        svc #0
        brk #0
