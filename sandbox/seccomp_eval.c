/* SPDX-License-Identifier: MIT */
/* A classic-BPF interpreter for the subset seccomp accepts (the kernel's seccomp_check_filter(), in
 * kernel/seccomp.c): loads from struct seccomp_data, immediates and scratch memory, ALU, forward jumps,
 * returns. It lets `brig policy explain` say what the exact program brig loads does with each system call,
 * rather than re-deriving it from the policy. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/seccomp_eval.h"

#define SCRATCH 16 /* BPF_MEMWORDS */

/* Reads the 32-bit word at byte offset k of data, as the kernel's seccomp loads do. */
static bool load_word(const struct seccomp_data *data, uint32_t k, uint32_t *ret) {
        if (k >= sizeof(*data) || k % 4 != 0)
                return false;
        memcpy(ret, (const char *) data + k, sizeof(*ret));
        return true;
}

/* One ALU operation; false for an unknown one. */
static bool alu(uint16_t op, uint32_t *a, uint32_t v, bool *div_zero) {
        switch (op) {
        case BPF_ADD:
                *a += v;
                return true;
        case BPF_SUB:
                *a -= v;
                return true;
        case BPF_MUL:
                *a *= v;
                return true;
        case BPF_DIV:
        case BPF_MOD:
                if (v == 0) {
                        *div_zero = true;
                        return true;
                }
                *a = op == BPF_DIV ? *a / v : *a % v;
                return true;
        case BPF_OR:
                *a |= v;
                return true;
        case BPF_AND:
                *a &= v;
                return true;
        case BPF_XOR:
                *a ^= v;
                return true;
        case BPF_LSH:
                *a = v < 32 ? *a << v : 0;
                return true;
        case BPF_RSH:
                *a = v < 32 ? *a >> v : 0;
                return true;
        case BPF_NEG:
                *a = -*a;
                return true;
        default:
                return false;
        }
}

static bool jump_taken(uint16_t op, uint32_t a, uint32_t v, bool *known) {
        *known = true;
        switch (op) {
        case BPF_JEQ:
                return a == v;
        case BPF_JGT:
                return a > v;
        case BPF_JGE:
                return a >= v;
        case BPF_JSET:
                return (a & v) != 0;
        default:
                *known = false;
                return false;
        }
}

int brig_seccomp_eval(const struct sock_fprog *prog, const struct seccomp_data *data, uint32_t *ret_action) {
        uint32_t a = 0, x = 0, mem[SCRATCH] = {0};
        size_t len;

        if (!prog || !prog->filter || !data || !ret_action)
                return -EINVAL;
        len = prog->len;
        /* Jumps only go forward, so every instruction runs at most once: the loop ends. */
        for (size_t pc = 0; pc < len; pc++) {
                const struct sock_filter *in = &prog->filter[pc];
                uint16_t code = in->code;
                uint32_t k = in->k;
                bool div_zero = false, known;

                switch (BPF_CLASS(code)) {
                case BPF_LD:
                case BPF_LDX: {
                        uint32_t *reg = BPF_CLASS(code) == BPF_LD ? &a : &x;
                        if (code == (BPF_LD | BPF_W | BPF_ABS)) {
                                if (!load_word(data, k, &a))
                                        return -EINVAL;
                        } else if (BPF_SIZE(code) == BPF_W && BPF_MODE(code) == BPF_LEN)
                                *reg = (uint32_t) sizeof(*data);
                        else if (BPF_MODE(code) == BPF_IMM)
                                *reg = k;
                        else if (BPF_MODE(code) == BPF_MEM && k < SCRATCH)
                                *reg = mem[k];
                        else
                                return -EINVAL;
                        break;
                }
                case BPF_ST:
                case BPF_STX:
                        if (k >= SCRATCH)
                                return -EINVAL;
                        mem[k] = BPF_CLASS(code) == BPF_ST ? a : x;
                        break;
                case BPF_ALU:
                        if (!alu(BPF_OP(code), &a, BPF_SRC(code) == BPF_X ? x : k, &div_zero))
                                return -EINVAL;
                        if (div_zero) {
                                *ret_action = 0;
                                return 0;
                        }
                        break;
                case BPF_JMP:
                        if (BPF_OP(code) == BPF_JA) {
                                if (k >= len - pc - 1)
                                        return -EINVAL;
                                pc += k;
                                break;
                        }
                        if (jump_taken(BPF_OP(code), a, BPF_SRC(code) == BPF_X ? x : k, &known)) {
                                if (in->jt >= len - pc - 1)
                                        return -EINVAL;
                                pc += in->jt;
                        } else if (known) {
                                if (in->jf >= len - pc - 1)
                                        return -EINVAL;
                                pc += in->jf;
                        } else
                                return -EINVAL;
                        break;
                case BPF_RET:
                        if (BPF_RVAL(code) == BPF_K)
                                *ret_action = k;
                        else if (BPF_RVAL(code) == BPF_A)
                                *ret_action = a;
                        else
                                return -EINVAL;
                        return 0;
                case BPF_MISC:
                        if (BPF_MISCOP(code) == BPF_TAX)
                                x = a;
                        else if (BPF_MISCOP(code) == BPF_TXA)
                                a = x;
                        else
                                return -EINVAL;
                        break;
                default:
                        return -EINVAL;
                }
        }
        /* Running off the end: the kernel refuses such a program. */
        return -EINVAL;
}

static const char *errno_str(int e, char *buf, size_t size) {
        const char *name = e > 0 ? strerrorname_np(e) : NULL;

        if (name)
                return name;
        (void) snprintf(buf, size, "%d", e);
        return buf;
}

const char *brig_seccomp_action_str(uint32_t action, int notify_errno, char *buf, size_t size) {
        uint32_t data = action & SECCOMP_RET_DATA;
        char num[16];

        switch (action & SECCOMP_RET_ACTION_FULL) {
        case SECCOMP_RET_ALLOW:
                (void) snprintf(buf, size, "allowed");
                break;
        case SECCOMP_RET_ERRNO:
                (void) snprintf(buf, size, "errno %s", errno_str((int) data, num, sizeof(num)));
                break;
        case SECCOMP_RET_KILL_PROCESS:
                (void) snprintf(buf, size, "kill process");
                break;
        case SECCOMP_RET_KILL_THREAD:
                (void) snprintf(buf, size, "kill thread");
                break;
        case SECCOMP_RET_TRAP:
                (void) snprintf(buf, size, "trap");
                break;
        case SECCOMP_RET_USER_NOTIF:
                if (notify_errno > 0)
                        (void) snprintf(buf, size, "notify+errno %s",
                                        errno_str(notify_errno, num, sizeof(num)));
                else
                        (void) snprintf(buf, size, "notify");
                break;
        case SECCOMP_RET_TRACE:
                (void) snprintf(buf, size, "trace %u", data);
                break;
        case SECCOMP_RET_LOG:
                (void) snprintf(buf, size, "log");
                break;
        default:
                /* The kernel kills the process for an action it does not know. */
                (void) snprintf(buf, size, "kill process (unknown action 0x%08x)", action);
                break;
        }
        return buf;
}
