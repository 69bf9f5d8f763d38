/* SPDX-License-Identifier: MIT */
/* `brig policy`: checks policy files (`check`) and shows the effective policy (`explain`): every value after
 * "extends" with the file that set it or "default", and what the seccomp program brig compiles from it does
 * with each system call of this architecture, found by evaluating that very program. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <seccomp.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "sandbox/policy.h"
#include "sandbox/policy_merge.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_eval.h"

#define MAX_SYSCALL_NR 8192 /* above every native number libseccomp knows (mips n32 starts at 6000) */
#define VALUE_COLUMN 56
#define WRAP_COLUMN 100

static bool is_help(const char *s) {
        return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

static void policy_help(void) {
        printf("Usage: brig policy COMMAND [ARGS]...\n"
               "\n"
               "Commands:\n"
               "  check FILE...           validate policy files exactly as brigd loads them;\n"
               "                          exit 1 if any has an error\n"
               "  explain [--json] FILE   show the effective policy after \"extends\", the file each\n"
               "                          value comes from, and what its seccomp filter does with\n"
               "                          every system call\n"
               "  test FILE -- CMD...     run CMD once under the policy (no daemon) and print, as JSON\n"
               "                          lines, the syscalls it denied, the limits hit and the exit\n"
               "\n"
               "`brig policy COMMAND --help` describes each command. The format is docs/policy.md.\n");
}

/* Prints every diagnostic as FILE[:LINE:COLUMN]: [warning: ]PATH: MESSAGE; FILE is the parent a problem is
 * in when it is not name itself. */
static void print_diags(const char *name, const brig_policy_diags *diags, FILE *out) {
        for (size_t d = 0; d < diags->n; d++) {
                const brig_policy_diag *g = &diags->items[d];
                const char *sev = g->severity == BRIG_POLICY_WARNING ? "warning: " : "";
                const char *file = g->file[0] ? g->file : name;

                if (g->line)
                        fprintf(out, "%s:%u:%u: %s%s%s%s\n", file, g->line, g->column, sev, g->path,
                                g->path[0] ? ": " : "", g->msg);
                else
                        fprintf(out, "%s: %s%s%s%s\n", file, sev, g->path, g->path[0] ? ": " : "", g->msg);
        }
}

static int policy_check(int argc, char **argv) {
        int bad = 0;

        if (argc < 1 || is_help(argv[0])) {
                printf("Usage: brig policy check FILE...\n\n"
                       "Validates each policy file and prints FILE: OK, or every problem as\n"
                       "FILE[:LINE:COLUMN]: PATH: MESSAGE. Warnings (such as a seccomp profile's\n"
                       "syscalls unknown on this machine) read FILE: warning: PATH: MESSAGE and do\n"
                       "not fail the check. A problem in a parent policy reached through \"extends\"\n"
                       "is printed with the parent's FILE. Also checks this host: every bind's\n"
                       "source that is not optional must exist. Exits 1 if any file has an error.\n");
                return argc < 1 ? 2 : 0;
        }
        for (int i = 0; i < argc; i++) {
                brig_policy_diags diags = {0};
                brig_error err = BRIG_ERROR_INIT;
                brig_policy *p = NULL;
                int r = brig_policy_load(argv[i], &p, &diags, &err);

                /* A policy that loads can still not run here: a bind whose source is missing. */
                if (r >= 0 && brig_policy_check_host(p, &diags) != 0)
                        r = -EINVAL;
                if (r < 0)
                        bad = 1;
                if (r < 0 && diags.n == 0)
                        printf("%s: %s\n", argv[i], err.msg);
                /* Warnings (something ignored) are printed in both cases; only errors fail the check. */
                print_diags(argv[i], &diags, stdout);
                if (r >= 0)
                        printf("%s: OK\n", argv[i]);
                brig_policy_free(p);
                brig_policy_diags_done(&diags);
        }
        return bad;
}

/* What the seccomp program does with one system call. */
typedef struct call {
        char *name;
        char *verdict; /* "allowed", "errno EPERM", ...; for argument-dependent calls "a or b" */
        bool depends;
} call;

/* One value of the effective policy: a leaf of the merged document, or a built-in default. */
typedef struct value {
        char *path;
        char *json;         /* the value as JSON text */
        const char *source; /* a file (borrowed from the tree), or "default" */
} value;

typedef struct explain {
        brig_policy_tree tree;
        brig_policy *policy;
        value *values;
        size_t n_values;
        call *calls; /* every named system call of this architecture, sorted by name */
        size_t n_calls;
        char other_arch[64]; /* the verdict for a call from any other architecture */
        char x32[64];        /* x86_64 only: for x32 calls; else "" */
        char machine[65];
        unsigned n_insns;
} explain;

static void explain_done(explain *e) {
        brig_policy_tree_done(&e->tree);
        brig_policy_free(e->policy);
        for (size_t i = 0; i < e->n_values; i++) {
                free(e->values[i].path);
                free(e->values[i].json);
        }
        free(e->values);
        for (size_t i = 0; i < e->n_calls; i++) {
                free(e->calls[i].name);
                free(e->calls[i].verdict);
        }
        free(e->calls);
}

static int add_value(explain *e, const char *path, char *json, const char *source) {
        value *v = reallocarray(e->values, e->n_values + 1, sizeof(*v));
        char *p = strdup(path);

        if (!v || !p || !json) {
                if (v)
                        e->values = v;
                free(p);
                free(json);
                return -ENOMEM;
        }
        e->values = v;
        v[e->n_values++] = (value){.path = p, .json = json, .source = source};
        return 0;
}

/* Whether some value of the merged document is at or below path. */
static bool in_tree(const brig_policy_tree *t, const char *path) {
        size_t n = strlen(path);
        for (size_t i = 0; i < t->n_leaves; i++) {
                const char *l = t->leaves[i].path;
                if (strncmp(l, path, n) == 0 && (l[n] == 0 || l[n] == '.' || l[n] == '['))
                        return true;
        }
        return false;
}

/* The effective values: the document's name (first, when no file set it), every leaf of the merged document,
 * then brig's default for each field no file set (from the policy's section table). */
static int collect_values(explain *e) {
        brig_policy_value *defs = NULL;
        size_t n = 0, i = 0;
        int r = brig_policy_defaults(e->policy, &defs, &n);

        if (r >= 0 && n > 0 && strcmp(defs[0].path, "name") == 0) {
                if (!in_tree(&e->tree, "name"))
                        r = add_value(e, "name", TAKE_PTR(defs[0].json), "default");
                i = 1;
        }
        for (size_t k = 0; r >= 0 && k < e->tree.n_leaves; k++) {
                const brig_policy_leaf *f = &e->tree.leaves[k];
                r = add_value(e, f->path, cJSON_PrintUnformatted(f->value), f->file);
        }
        for (; r >= 0 && i < n; i++)
                if (!in_tree(&e->tree, defs[i].unless ? defs[i].unless : defs[i].path))
                        r = add_value(e, defs[i].path, TAKE_PTR(defs[i].json), "default");
        brig_policy_values_free(defs, n);
        return r;
}

/* Argument values tried for every call: all arguments zero, all ones, and values brig's floor and common
 * profiles filter on (namespace flags for clone, AF_VSOCK for socket, TIOCSTI and TIOCLINUX for ioctl,
 * personality values). A call whose verdict differs between them depends on its arguments. */
static const uint64_t arg_patterns[] = {
        0,
        ~UINT64_C(0),
        CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_NEWCGROUP,
        40,     /* AF_VSOCK */
        0x5412, /* TIOCSTI */
        0x541c, /* TIOCLINUX */
        1,
        8,       /* PER_LINUX32 */
        0x20000, /* UNAME26 */
        0xffffffff,
};

/* The verdicts of prog for one call, each distinct one once, joined with " or ". */
static char *verdicts(const struct sock_fprog *prog, uint32_t arch, int nr, int notify_errno,
                      bool *ret_depends) {
        char seen[ELEMENTSOF(arg_patterns)][64], joined[ELEMENTSOF(arg_patterns) * 64 + 64] = "";
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(arg_patterns); i++) {
                struct seccomp_data d = {.nr = nr, .arch = arch};
                uint32_t action;
                bool dup = false;

                for (size_t a = 0; a < 6; a++)
                        d.args[a] = arg_patterns[i];
                if (brig_seccomp_eval(prog, &d, &action) < 0)
                        (void) snprintf(seen[n], sizeof(seen[n]), "unknown");
                else
                        (void) brig_seccomp_action_str(action, notify_errno, seen[n], sizeof(seen[n]));
                for (size_t j = 0; j < n; j++)
                        dup = dup || strcmp(seen[j], seen[n]) == 0;
                if (!dup) {
                        (void) snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s",
                                        n ? " or " : "", seen[n]);
                        n++;
                }
        }
        *ret_depends = n > 1;
        return strdup(joined);
}

static int call_cmp(const void *a, const void *b) {
        return strcmp(((const call *) a)->name, ((const call *) b)->name);
}

static int collect_seccomp(explain *e, brig_error *err) {
        const brig_policy *p = e->policy;
        _cleanup_close_ int fd = -1;
        struct sock_fprog prog = {0};
        uint32_t arch = seccomp_arch_native();
        struct utsname u;
        bool dep;
        int r;

        r = brig_policy_compile_seccomp(p, &fd, err);
        if (r >= 0)
                r = brig_seccomp_read(fd, &prog, err);
        if (r < 0)
                return r;
        e->n_insns = prog.len;
        (void) snprintf(e->machine, sizeof(e->machine), "%s", uname(&u) == 0 ? u.machine : "native");
        for (int nr = 0; r >= 0 && nr < MAX_SYSCALL_NR; nr++) {
                char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr), *v;
                call *c;

                if (!name)
                        continue;
                v = verdicts(&prog, arch, nr, p->seccomp.errno_ret, &dep);
                c = v ? reallocarray(e->calls, e->n_calls + 1, sizeof(*c)) : NULL;
                if (!c) {
                        free(name);
                        free(v);
                        r = brig_error_oom(err);
                        break;
                }
                e->calls = c;
                c[e->n_calls++] = (call){.name = name, .verdict = v, .depends = dep};
        }
        if (e->n_calls)
                qsort(e->calls, e->n_calls, sizeof(call), call_cmp);
        if (r >= 0) {
                /* Any other architecture: the arch word is all the program checks first. */
                _cleanup_free_ char *o = verdicts(&prog, arch ^ 0x10000000, 0, p->seccomp.errno_ret, &dep);
                (void) snprintf(e->other_arch, sizeof(e->other_arch), "%s", o ? o : "unknown");
                if (arch == SCMP_ARCH_X86_64) {
                        _cleanup_free_ char *x =
                                verdicts(&prog, arch, 0x40000000, p->seccomp.errno_ret, &dep);
                        (void) snprintf(e->x32, sizeof(e->x32), "%s", x ? x : "unknown");
                }
        }
        free(prog.filter);
        return r;
}

/* Order of the verdict groups: allowed first, then the denials from mildest to harshest. */
static int verdict_rank(const char *v) {
        static const char *const order[] = {"allowed", "log", "errno", "notify", "trace", "trap", "kill"};
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (strncmp(v, order[i], strlen(order[i])) == 0)
                        return (int) i;
        return (int) ELEMENTSOF(order);
}

/* The distinct verdicts of calls that do not depend on arguments, in display order. */
static size_t verdict_groups(const explain *e, const char **ret, size_t max) {
        size_t n = 0;

        for (size_t i = 0; i < e->n_calls; i++) {
                bool seen = false;
                if (e->calls[i].depends)
                        continue;
                for (size_t j = 0; j < n; j++)
                        seen = seen || strcmp(ret[j], e->calls[i].verdict) == 0;
                if (!seen && n < max)
                        ret[n++] = e->calls[i].verdict;
        }
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0; j--) {
                        int a = verdict_rank(ret[j - 1]), b = verdict_rank(ret[j]);
                        if (a < b || (a == b && strcmp(ret[j - 1], ret[j]) <= 0))
                                break;
                        const char *t = ret[j];
                        ret[j] = ret[j - 1];
                        ret[j - 1] = t;
                }
        return n;
}

static void print_text(const explain *e, const char *file) {
        const char *groups[64];
        size_t n_groups = verdict_groups(e, groups, ELEMENTSOF(groups)), n_dep = 0;

        printf("# Effective policy of %s\n# chain:", file);
        for (size_t i = 0; i < e->tree.n_files; i++)
                printf("%s %s", i ? " ->" : "", e->tree.files[i]);
        printf("\n# each value is followed by the file that set it, or \"default\" (brig's built-in "
               "default)\n\n");
        for (size_t i = 0; i < e->n_values; i++) {
                const value *v = &e->values[i];
                int w = printf("%s = %s", v->path, v->json);
                printf("%*s# %s\n", w < VALUE_COLUMN ? VALUE_COLUMN - w : 1, "", v->source);
        }

        printf("\n# seccomp: the program brig loads (%u instructions), evaluated for each %s system call\n"
               "# with all arguments 0 and with the argument values brig's filters test\n",
               e->n_insns, e->machine);
        for (size_t g = 0; g < n_groups; g++) {
                size_t count = 0, col = WRAP_COLUMN;
                for (size_t i = 0; i < e->n_calls; i++)
                        count += !e->calls[i].depends && strcmp(e->calls[i].verdict, groups[g]) == 0;
                printf("\n%s (%zu):", groups[g], count);
                for (size_t i = 0; i < e->n_calls; i++) {
                        size_t len = strlen(e->calls[i].name);
                        if (e->calls[i].depends || strcmp(e->calls[i].verdict, groups[g]) != 0)
                                continue;
                        if (col + 1 + len > WRAP_COLUMN) {
                                printf("\n ");
                                col = 1;
                        }
                        printf(" %s", e->calls[i].name);
                        col += 1 + len;
                }
                printf("\n");
        }
        for (size_t i = 0; i < e->n_calls; i++)
                n_dep += e->calls[i].depends;
        if (n_dep) {
                printf("\ndepends on arguments (%zu):\n", n_dep);
                for (size_t i = 0; i < e->n_calls; i++)
                        if (e->calls[i].depends)
                                printf("  %s: %s\n", e->calls[i].name, e->calls[i].verdict);
        }
        printf("\nother architectures: %s\n", e->other_arch);
        if (e->x32[0])
                printf("x32 system calls: %s\n", e->x32);
}

static int print_json(const explain *e, const char *file) {
        _cleanup_json_ cJSON *root = cJSON_CreateObject();
        cJSON *chain = cJSON_AddArrayToObject(root, "chain"),
              *values = cJSON_AddArrayToObject(root, "values");
        cJSON *sc = cJSON_AddObjectToObject(root, "seccomp");
        cJSON *groups = cJSON_AddObjectToObject(sc, "syscalls"),
              *dep = cJSON_AddObjectToObject(sc, "depends");
        _cleanup_free_ char *text = NULL;
        bool ok = root && chain && values && sc && groups && dep &&
                  cJSON_AddStringToObject(root, "file", file);

        for (size_t i = 0; ok && i < e->tree.n_files; i++)
                ok = cJSON_AddItemToArray(chain, cJSON_CreateString(e->tree.files[i]));
        for (size_t i = 0; ok && i < e->n_values; i++) {
                cJSON *v = cJSON_CreateObject();
                ok = v && cJSON_AddItemToArray(values, v) &&
                     cJSON_AddStringToObject(v, "path", e->values[i].path) &&
                     cJSON_AddItemToObject(v, "value", cJSON_Parse(e->values[i].json)) &&
                     cJSON_AddStringToObject(v, "source", e->values[i].source);
        }
        ok = ok && cJSON_AddStringToObject(sc, "arch", e->machine) &&
             cJSON_AddNumberToObject(sc, "instructions", e->n_insns) &&
             cJSON_AddStringToObject(sc, "other_architectures", e->other_arch) &&
             (!e->x32[0] || cJSON_AddStringToObject(sc, "x32", e->x32));
        for (size_t i = 0; ok && i < e->n_calls; i++) {
                if (e->calls[i].depends) {
                        ok = cJSON_AddStringToObject(dep, e->calls[i].name, e->calls[i].verdict) != NULL;
                        continue;
                }
                cJSON *g = cJSON_GetObjectItemCaseSensitive(groups, e->calls[i].verdict);
                if (!g)
                        g = cJSON_AddArrayToObject(groups, e->calls[i].verdict);
                ok = g && cJSON_AddItemToArray(g, cJSON_CreateString(e->calls[i].name));
        }
        if (!ok || !(text = cJSON_Print(root))) {
                fprintf(stderr, "brig: out of memory\n");
                return 1;
        }
        printf("%s\n", text);
        return 0;
}

static int policy_explain(int argc, char **argv) {
        _cleanup_(explain_done) explain e = {0};
        brig_policy_diags diags = {0};
        brig_error err = BRIG_ERROR_INIT;
        const char *file = NULL;
        bool json = false;
        int r;

        for (int i = 0; i < argc; i++) {
                if (is_help(argv[i])) {
                        printf("Usage: brig policy explain [--json] FILE\n\n"
                               "Shows the policy brigd would use for FILE, after merging its \"extends\" "
                               "chain:\n"
                               "  - every value, one per line as PATH = VALUE, followed by the file that "
                               "set\n"
                               "    it, or \"default\" for brig's built-in defaults of fields no file "
                               "sets;\n"
                               "  - what the seccomp program compiled from it (brig's floor, seccomp.deny,\n"
                               "    seccomp.profile) does with each system call of this architecture,\n"
                               "    grouped by result: allowed, errno NAME, notify+errno NAME (audited\n"
                               "    denials), kill, trap, log, trace; calls whose result depends on their\n"
                               "    arguments (clone, ioctl, socket, personality, ...) are listed apart.\n"
                               "The program is evaluated, not loaded. An invalid FILE is reported as by\n"
                               "`brig policy check` (exit 1).\n\n"
                               "Options:\n"
                               "  --json   print one JSON object instead\n");
                        return 0;
                }
                if (strcmp(argv[i], "--json") == 0)
                        json = true;
                else if (argv[i][0] == '-' || file) {
                        fprintf(stderr,
                                "brig: policy explain: unexpected argument '%s'\n"
                                "Try 'brig policy explain --help'.\n",
                                argv[i]);
                        return 2;
                } else
                        file = argv[i];
        }
        if (!file) {
                fprintf(stderr, "brig: policy explain: needs a FILE\nTry 'brig policy explain --help'.\n");
                return 2;
        }
        r = brig_policy_load(file, &e.policy, &diags, &err);
        if (r < 0) {
                if (diags.n == 0)
                        fprintf(stderr, "%s: %s\n", file, err.msg);
                print_diags(file, &diags, stderr);
                brig_policy_diags_done(&diags);
                return 1;
        }
        print_diags(file, &diags, stderr);
        brig_policy_diags_done(&diags);
        /* The same files once more, for provenance: they were just valid, unless they changed since. */
        r = brig_policy_tree_load(file, &e.tree, NULL, NULL);
        if (r < 0)
                (void) brig_error_set(&err, r, BRIG_KIND_IO, "%s",
                                      r == -ENOMEM ? "out of memory" : "changed while it was read");
        if (r >= 0 && (r = collect_values(&e)) < 0)
                (void) brig_error_set(&err, r, BRIG_KIND_INTERNAL, "out of memory");
        if (r >= 0)
                r = collect_seccomp(&e, &err);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", file, err.msg);
                return 1;
        }
        if (json)
                return print_json(&e, file);
        print_text(&e, file);
        return 0;
}

int brig_cli_policy(int argc, char **argv) {
        if (argc < 2 || is_help(argv[1])) {
                policy_help();
                return argc < 2 ? 2 : 0;
        }
        if (strcmp(argv[1], "check") == 0)
                return policy_check(argc - 2, argv + 2);
        if (strcmp(argv[1], "explain") == 0)
                return policy_explain(argc - 2, argv + 2);
        if (strcmp(argv[1], "test") == 0)
                return brig_cli_policy_test(argc - 1, argv + 1);
        fprintf(stderr, "brig: unknown policy command '%s'\nTry 'brig policy --help'.\n", argv[1]);
        return 2;
}
