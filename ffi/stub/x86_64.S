# ctr plan executor, x86_64. Position-independent; no stack use except the
# 16-byte error record. Assembled by scripts/gen_stub.sh into ffi/stub.ts.
#
# Entry points (System V ABI):
#   +0   int64 ctr_syscall(nr, a0, a1, a2, a3, a4, a5)  raw syscall, -errno on error
#   +64  int64 ctr_spawn(struct ctx *)                   clone, child runs the plan
#
# struct ctx { u64 flags; u64 stack; u64 plan; u64 count; u64 errfd;
#              u64 pidfd; u64 mask_all; u64 mask_saved; u64 clone_args; }
# clone_args, when not 0, is a struct clone_args of 88 bytes for clone3
# (flags, stack and pidfd then come from it); else clone is used.
# struct entry (96 bytes) { u64 nr; u64 a[6]; i64 tol1; i64 tol2; u64 flags;
#              u64 save; u64 jump; }
# entry.flags: bit0 FORK (ret > 0, the parent side: go `jump` entries on,
#              or exit_group(0) when jump is 0),
#              bit1 EXPECT (ret == 0 is a failure: EOF on the sync pipe),
#              bit8+i: a[i] holds the address of the real argument.
# A result is a failure when it is in [-4095, -1] and is not -tol1 or -tol2.
# On a failed entry the child writes {u64 index; i64 ret} to errfd and exits 127.
        .intel_syntax noprefix
        .text
        .globl ctr_syscall
ctr_syscall:
        mov rax, rdi
        mov rdi, rsi
        mov rsi, rdx
        mov rdx, rcx
        mov r10, r8
        mov r8, r9
        mov r9, [rsp+8]
        syscall
        ret
        .balign 64, 0xcc
        .globl ctr_spawn
ctr_spawn:
        push rbx
        push r12
        push r13
        push r14
        push r15
        mov r12, rdi
        mov eax, 14                 # rt_sigprocmask(SIG_SETMASK, &all, &saved, 8)
        mov edi, 2
        lea rsi, [r12+48]
        lea rdx, [r12+56]
        mov r10d, 8
        syscall
        mov rdi, [r12+64]
        test rdi, rdi
        jz 1f
        mov eax, 435                # clone3(&clone_args, 88)
        mov esi, 88
        syscall
        jmp 2f
1:      mov eax, 56                 # clone(flags, stack, &pidfd, 0, 0)
        mov rdi, [r12]
        mov rsi, [r12+8]
        lea rdx, [r12+40]
        xor r10d, r10d
        xor r8d, r8d
        syscall
2:      test rax, rax
        jz child
        mov rbx, rax
        mov eax, 14                 # rt_sigprocmask(SIG_SETMASK, &saved, 0, 8)
        mov edi, 2
        lea rsi, [r12+56]
        xor edx, edx
        mov r10d, 8
        syscall
        mov rax, rbx
        pop r15
        pop r14
        pop r13
        pop r12
        pop rbx
        ret
child:
        mov r13, [r12+16]
        mov r14, [r12+24]
        xor r15d, r15d
next:
        test r14, r14
        jz done
        mov rbx, [r13+72]
        mov rdi, [r13+8]
        bt rbx, 8
        jnc 1f
        mov rdi, [rdi]
1:      mov rsi, [r13+16]
        bt rbx, 9
        jnc 1f
        mov rsi, [rsi]
1:      mov rdx, [r13+24]
        bt rbx, 10
        jnc 1f
        mov rdx, [rdx]
1:      mov r10, [r13+32]
        bt rbx, 11
        jnc 1f
        mov r10, [r10]
1:      mov r8, [r13+40]
        bt rbx, 12
        jnc 1f
        mov r8, [r8]
1:      mov r9, [r13+48]
        bt rbx, 13
        jnc 1f
        mov r9, [r9]
1:      mov rax, [r13]
        syscall
        mov rcx, [r13+80]
        test rcx, rcx
        jz 1f
        mov [rcx], rax
1:      bt rbx, 0
        jnc 1f
        test rax, rax
        jle 1f
        mov rcx, [r13+88]           # FORK, parent side: jump rcx entries on, or exit
        test rcx, rcx
        jz done
        imul rdx, rcx, 96
        add r13, rdx
        add r15, rcx
        sub r14, rcx
        jmp next
1:      bt rbx, 1
        jnc 1f
        test rax, rax
        jz fail
1:      cmp rax, -4095
        jb ok
        mov rcx, rax
        neg rcx
        cmp rcx, [r13+56]
        je ok
        cmp rcx, [r13+64]
        je ok
fail:
        push rax
        push r15
        mov eax, 1                  # write(errfd, &record, 16)
        mov rdi, [r12+32]
        mov rsi, rsp
        mov edx, 16
        syscall
        mov edi, 127
        jmp leave
ok:
        add r13, 96
        inc r15
        dec r14
        jmp next
done:
        xor edi, edi
leave:
        mov eax, 231                # exit_group
        syscall
        hlt
