/* SPDX-License-Identifier: MIT */
/* `brig doctor`: checks what brig needs from this host and this user, and says for each item OK, or what
 * is missing and which isolation layer or feature that costs. It never suggests less isolation: a
 * missing layer is reported with what would restore it. Ends with a one-shot jail of every shipped policy
 * running /bin/true; a FAIL line (a hard requirement missing, a policy that could not run) makes the exit
 * status 1.
 *
 * Theory of operation: brig (the CLI) is single-threaded, so it may fork. Every probe that makes a system
 * call a filter or an LSM might answer with a kill (userns, seccomp, Landlock, openat2, mount_setattr),
 * the socket check and each policy's jail run in a forked child that reports one number over an
 * O_CLOEXEC pipe (probes) or its exit status and stderr (socket, policies): a probe that crashes or is
 * killed is a finding, never doctor's end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/paths.h"
#include "sandbox/cgroup.h"
#include "sandbox/landlock.h"
#include "sandbox/plan.h"
#include "worker/worker.h"

typedef enum check_status {
        CHECK_OK,
        CHECK_WARN,
        CHECK_FAIL,
        _CHECK_STATUS_MAX,
        _CHECK_STATUS_INVALID = -EINVAL,
} check_status;

static const char *const status_names[_CHECK_STATUS_MAX] = {"OK", "WARN", "FAIL"};

typedef struct doctor {
        const char *socket;     /* --socket, or NULL */
        const char *state_dir;  /* --state-dir, or brigd's default */
        const char *policy_dir; /* --policy-dir, or brigd's default */
        bool json;
        cJSON *checks; /* --json: the array printed at the end */
        unsigned fails;
} doctor;

/* Prints (or, with --json, collects) one check. cost: what is lost while it is not OK (NULL when OK). */
static void report(doctor *d, const char *name, check_status st, const char *detail, const char *cost) {
        if (st != CHECK_OK && !cost)
                cost = "";
        if (st == CHECK_FAIL)
                d->fails++;
        if (!d->json) {
                printf("%-4s  %s: %s\n", status_names[st], name, detail);
                if (cost && *cost)
                        printf("      costs: %s\n", cost);
                (void) fflush(stdout);
                return;
        }
        cJSON *c = cJSON_CreateObject();
        if (!c || !cJSON_AddItemToArray(d->checks, c) || !cJSON_AddStringToObject(c, "name", name) ||
            !cJSON_AddStringToObject(c, "status", status_names[st]) ||
            !cJSON_AddStringToObject(c, "detail", detail) ||
            !(cost ? cJSON_AddStringToObject(c, "cost", cost) : cJSON_AddNullToObject(c, "cost")))
                d->fails++; /* out of memory: the report is incomplete, which must not pass */
}

/* Runs probe in a forked child and returns what it returned (a value >= 0 or -errno); a child killed by a
 * signal (a seccomp filter's kill, a crash) gives -EINTR with the signal in *ret_signal. */
static long in_child(long (*probe)(void), int *ret_signal) {
        _cleanup_close_ int rd = -1, wr = -1;
        long value = -EIO;
        int p[2], st;

        *ret_signal = 0;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        rd = p[0];
        wr = p[1];
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                long v = probe();
                _exit(write(wr, &v, sizeof(v)) == sizeof(v) ? 0 : 1);
        }
        (void) close(TAKE_FD(wr));
        ssize_t n = read(rd, &value, sizeof(value));
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFSIGNALED(st)) {
                *ret_signal = WTERMSIG(st);
                return -EINTR;
        }
        return n == sizeof(value) ? value : -EIO;
}

/* "EPERM (Operation not permitted)", or the signal that killed the probe. */
static const char *probe_error(long r, int sig, char *buf, size_t size) {
        if (sig)
                (void) snprintf(buf, size, "the probe was killed by SIG%s", sigabbrev_np(sig));
        else
                (void) snprintf(buf, size, "%s (%s)", strerrorname_np((int) -r), strerror((int) -r));
        return buf;
}

static long read_sysctl(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        long v;
        return f && fscanf(f, "%ld", &v) == 1 ? v : -1;
}

/* ---- kernel ---- */

static void check_kernel(doctor *d) {
        struct utsname u;
        unsigned major = 0, minor = 0;
        char detail[256];

        if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2) {
                report(d, "kernel", CHECK_WARN, "cannot read the kernel version",
                       "none by itself: the checks below probe each feature");
                return;
        }
        /* What README.md states brig needs. The probes below decide feature by feature (a distribution
         * kernel may carry a backport); this line says which kernel it is and what brig was written for. */
        bool ok = major > 5 || (major == 5 && minor >= 12);
        (void) snprintf(detail, sizeof(detail), "Linux %s (brig needs 5.12 or later)", u.release);
        report(d, "kernel", ok ? CHECK_OK : CHECK_FAIL, detail,
               ok ? NULL
                  : "no jail: without mount_setattr (5.12) a read-only bind cannot be made read-only with "
                    "its submounts, and brig refuses to build a weaker jail; upgrade the kernel");
}

/* ---- user namespaces ---- */

static long probe_userns(void) {
        return unshare(CLONE_NEWUSER) < 0 ? -errno : 0;
}

static void check_userns(doctor *d) {
        long clone = read_sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
             max = read_sysctl("/proc/sys/user/max_user_namespaces"),
             apparmor = read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
        char detail[768], sysctls[512] = "", buf[128];
        size_t n = 0;
        int sig;

        if (clone == 0)
                n += (size_t) snprintf(sysctls + n, sizeof(sysctls) - n,
                                       "; kernel.unprivileged_userns_clone = 0 (only privileged users may "
                                       "create one)");
        if (max == 0 && n < sizeof(sysctls))
                n += (size_t) snprintf(sysctls + n, sizeof(sysctls) - n,
                                       "; user.max_user_namespaces = 0 (no one may create one)");
        if (apparmor == 1 && n < sizeof(sysctls))
                (void) snprintf(
                        sysctls + n, sizeof(sysctls) - n,
                        "; kernel.apparmor_restrict_unprivileged_userns = 1 (unprivileged users need "
                        "an AppArmor profile that allows userns for brig-jail, brigd's helper, and for "
                        "brig, whose brig run builds its jail itself)");
        long r = in_child(probe_userns, &sig);
        if (r == 0) {
                (void) snprintf(detail, sizeof(detail), "uid %u can create one%s", (unsigned) geteuid(),
                                sysctls);
                report(d, "userns", CHECK_OK, detail, NULL);
                return;
        }
        (void) snprintf(detail, sizeof(detail), "uid %u cannot create one: unshare(CLONE_NEWUSER): %s%s",
                        (unsigned) geteuid(), probe_error(r, sig, buf, sizeof(buf)), sysctls);
        report(d, "userns", CHECK_FAIL, detail,
               "no jail at all: every jail is its own user namespace, holding its mount, pid, network, IPC "
               "and UTS namespaces; allow user namespaces for this user (the sysctls above)");
}

/* ---- seccomp ---- */

/* Loads an allow-everything filter: what brig-jail does with the real one, minus the rules. */
static long probe_seccomp(void) {
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog prog = {.len = 1, .filter = &allow};

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 ? -errno : 0;
}

static long probe_seccomp_notify(void) {
        struct seccomp_notif_sizes sizes;
        uint32_t action = SECCOMP_RET_USER_NOTIF;

        if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
                return -errno;
        return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0 ? -errno : 0;
}

static void check_seccomp(doctor *d) {
        char detail[512], buf[128];
        int sig;
        long r = in_child(probe_seccomp, &sig);

        if (r == 0) {
                int mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
                report(d, "seccomp", CHECK_OK,
                       mode == SECCOMP_MODE_FILTER
                               ? "filters load (brig runs under a filter already, a container's: what it "
                                 "denies is denied in jails too)"
                               : "filters load",
                       NULL);
        } else {
                (void) snprintf(detail, sizeof(detail), "cannot load a filter: %s",
                                probe_error(r, sig, buf, sizeof(buf)));
                report(d, "seccomp", CHECK_FAIL, detail,
                       "no jail: brig-jail refuses to start a command without its syscall filter; use a "
                       "kernel built with CONFIG_SECCOMP_FILTER");
        }
        r = in_child(probe_seccomp_notify, &sig);
        if (r == 0) {
                report(d, "seccomp_notify", CHECK_OK, "user notification available (denied calls reported)",
                       NULL);
                return;
        }
        (void) snprintf(detail, sizeof(detail), "SECCOMP_RET_USER_NOTIF unavailable: %s",
                        probe_error(r, sig, buf, sizeof(buf)));
        report(d, "seccomp_notify", CHECK_FAIL, detail,
               "policies with seccomp.audit (on by default) cannot run: their filters report each denied "
               "call to brigd through a user notification listener (Linux 5.0)");
}

/* ---- Landlock, openat2, mount_setattr ---- */

static long probe_landlock(void) {
        int abi = brig_landlock_abi();
        /* brig_landlock_abi() returns 0 straight after the failed call: errno still says why. */
        return abi > 0 ? abi : -errno;
}

static void check_landlock(doctor *d) {
        char detail[256], buf[128];
        int sig;
        long r = in_child(probe_landlock, &sig);

        if (r >= BRIG_LANDLOCK_ABI_MIN) {
                (void) snprintf(detail, sizeof(detail), "ABI %ld (brig uses %d or later)", r,
                                BRIG_LANDLOCK_ABI_MIN);
                report(d, "landlock", CHECK_OK, detail, NULL);
                return;
        }
        if (r > 0)
                (void) snprintf(detail, sizeof(detail), "ABI %ld is older than the %d brig uses", r,
                                BRIG_LANDLOCK_ABI_MIN);
        else
                (void) snprintf(detail, sizeof(detail), "missing: landlock_create_ruleset: %s",
                                probe_error(r, sig, buf, sizeof(buf)));
        report(d, "landlock", CHECK_WARN, detail,
               "jails lose Landlock, the filesystem layer under the mount namespace (paths stay confined "
               "by mounts alone); policies with landlock \"required\" refuse to run; enable it with lsm=... "
               "including landlock on the kernel command line, or a kernel with Landlock ABI 2 (5.19)");
}

static long probe_openat2(void) {
        /* A zero-sized open_how is EINVAL on every kernel that has the call. */
        return syscall(SYS_openat2, AT_FDCWD, ".", NULL, 0) < 0 ? -errno : 0;
}

static long probe_mount_setattr(void) {
        /* A bad fd and a zero-sized attribute: EBADF or EINVAL where the call exists. */
        return syscall(SYS_mount_setattr, -1, "", 0, NULL, 0) < 0 ? -errno : 0;
}

/* ENOSYS: not in this kernel; EPERM: refused by a filter around brig. Anything else: the call exists. */
static bool syscall_present(long r, int sig) {
        return !sig && r != -ENOSYS && r != -EPERM;
}

/* Newer system calls brig uses, each probed safely and reported as present or missing with its cost. */
static const struct {
        const char *name;
        long (*probe)(void);
        check_status missing; /* FAIL: jails cannot be built without it */
        const char *present;
        const char *cost;
} syscall_checks[] = {
        {"openat2", probe_openat2, CHECK_WARN, "present (workspace paths resolve with RESOLVE_BENEATH)",
         "workspace file tools resolve paths with a slower component-by-component O_NOFOLLOW walk instead "
         "of the kernel's RESOLVE_BENEATH; policies with \"hide\" entries cannot build their jail (Linux "
         "5.6)"},
        {"mount_setattr", probe_mount_setattr, CHECK_FAIL,
         "present (read-only binds include their submounts)",
         "no jail with recursive read-only binds: a remount would leave submounts writable, so brig refuses "
         "to build the jail (Linux 5.12)"},
};

static void check_syscalls(doctor *d) {
        for (size_t i = 0; i < sizeof(syscall_checks) / sizeof(*syscall_checks); i++) {
                char detail[256], buf[128];
                int sig;
                long r = in_child(syscall_checks[i].probe, &sig);

                if (syscall_present(r, sig)) {
                        report(d, syscall_checks[i].name, CHECK_OK, syscall_checks[i].present, NULL);
                        continue;
                }
                (void) snprintf(detail, sizeof(detail), "missing: %s",
                                probe_error(r, sig, buf, sizeof(buf)));
                report(d, syscall_checks[i].name, syscall_checks[i].missing, detail, syscall_checks[i].cost);
        }
}

/* ---- cgroups ---- */

static void check_cgroups(doctor *d) {
        brig_cgroup_root root;
        char instance[32], detail[1024];

        /* An instance of our own, removed again: never the groups of a running brigd. */
        (void) snprintf(instance, sizeof(instance), "doctor-%d", (int) getpid());
        brig_cgroup_detect(instance, &root);
        if (root.mode == BRIG_CGROUP_NONE) {
                (void) snprintf(detail, sizeof(detail), "unusable by uid %u: %s", (unsigned) geteuid(),
                                root.why);
                brig_cgroup_root_remove(&root);
                report(d, "cgroups", CHECK_WARN, detail,
                       "environments get rlimits only: no memory, process-count or CPU limit on an "
                       "environment as a whole; policies with limits.cgroups \"required\" refuse to run; "
                       "run brigd as root or in a cgroup v2 subtree delegated to its user (systemd "
                       "Delegate=yes) with memory, pids and cpu enabled");
                return;
        }
        (void) snprintf(detail, sizeof(detail), "cgroup %s: memory, pids and cpu usable under %s",
                        brig_cgroup_mode_name(root.mode), root.base[BRIG_CG_MEMORY]);
        brig_cgroup_root_remove(&root);
        report(d, "cgroups", CHECK_OK, detail, NULL);
}

/* ---- subordinate ids ---- */

/* Whether /etc/subuid-style file has a line for name or uid. */
static bool has_subid_range(const char *file, const char *name, uid_t uid) {
        _cleanup_fclose_ FILE *f = fopen(file, "re");
        char line[512], id[32];

        (void) snprintf(id, sizeof(id), "%u", (unsigned) uid);
        while (f && fgets(line, sizeof(line), f)) {
                size_t n = strcspn(line, ":");
                if ((name && strlen(name) == n && strncmp(line, name, n) == 0) ||
                    (strlen(id) == n && strncmp(line, id, n) == 0))
                        return true;
        }
        return false;
}

static void check_subids(doctor *d) {
        const char *user = secure_getenv("USER");
        uid_t uid = geteuid();
        char detail[512];

        /* Each jail's user namespace maps one id, the caller's own (or, for root, one unprivileged host
         * id): nothing in brig calls newuidmap or reads /etc/subuid (sandbox/plan.h, brig_identity). */
        (void) snprintf(
                detail, sizeof(detail),
                "not needed: each jail maps a single id (brigd's own uid, or one unprivileged host id "
                "for root), so /etc/subuid and /etc/subgid are not used (uid %u has %s range there)",
                (unsigned) uid,
                has_subid_range("/etc/subuid", user, uid) && has_subid_range("/etc/subgid", user, uid)
                        ? "a"
                        : "no");
        report(d, "subuid", CHECK_OK, detail, NULL);
}

/* ---- fd limit ---- */

/* How many calls brigd admits at once with this fd limit: worker/admission.c's rule. */
static uint64_t max_calls_for(uint64_t fd_limit) {
        uint64_t budget = fd_limit > BRIG_FD_RESERVE ? (fd_limit - BRIG_FD_RESERVE) / 2 : 0;
        uint64_t calls = budget / BRIG_FDS_PER_CALL;
        return calls < 1 ? 1 : calls > BRIG_MAX_CALLS_CAP ? BRIG_MAX_CALLS_CAP : calls;
}

static void check_fd_limit(doctor *d) {
        const uint64_t want = BRIG_FD_RESERVE + 2ULL * BRIG_MAX_CALLS_CAP * BRIG_FDS_PER_CALL;
        struct rlimit rl;
        char detail[512], cost[256];

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
                report(d, "fd_limit", CHECK_WARN, "cannot read RLIMIT_NOFILE", "unknown");
                return;
        }
        /* brigd raises its soft limit to the hard one at start. */
        uint64_t hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t) rl.rlim_max;
        (void) snprintf(detail, sizeof(detail),
                        "soft %llu, hard %llu: brigd raises the soft limit to the hard one and runs up to "
                        "%llu calls at once (%llu with %llu fds or more)",
                        (unsigned long long) rl.rlim_cur, (unsigned long long) hard,
                        (unsigned long long) max_calls_for(hard), (unsigned long long) BRIG_MAX_CALLS_CAP,
                        (unsigned long long) want);
        if (hard >= want) {
                report(d, "fd_limit", CHECK_OK, detail, NULL);
                return;
        }
        (void) snprintf(cost, sizeof(cost),
                        "fewer calls at once: the rest queue, and a full queue answers busy; raise the hard "
                        "limit (LimitNOFILE=%llu in the unit, or limits.conf)",
                        (unsigned long long) want);
        report(d, "fd_limit", CHECK_WARN, detail, cost);
}

/* ---- state directory ---- */

static void check_state_dir(doctor *d) {
        uid_t uid = geteuid();
        char detail[1024], blocker[512];
        struct stat st;

        int r = stat(d->state_dir, &st) < 0 ? -errno : 0;

        if (r < 0 && r != -ENOENT) {
                (void) snprintf(detail, sizeof(detail), "%s: %s", d->state_dir, strerror(-r));
                report(d, "state_dir", CHECK_FAIL, detail, "brigd cannot start there");
                return;
        }
        if (r == -ENOENT) {
                char parent[4096], *slash;
                /* brigd creates it (mode 0711) with its parents: the nearest existing one must let it. */
                (void) snprintf(parent, sizeof(parent), "%s", d->state_dir);
                while ((slash = strrchr(parent, '/')) && access(parent, F_OK) < 0)
                        *(slash == parent ? slash + 1 : slash) = 0;
                bool ok = access(parent, W_OK | X_OK) == 0;
                (void) snprintf(detail, sizeof(detail), "%s does not exist yet; uid %u %s create it in %s",
                                d->state_dir, (unsigned) uid, ok ? "can" : "cannot", parent);
                report(d, "state_dir", ok ? CHECK_OK : CHECK_FAIL, detail,
                       ok ? NULL : "brigd cannot start there; choose another --state-dir");
                return;
        }
        if (!S_ISDIR(st.st_mode)) {
                (void) snprintf(detail, sizeof(detail), "%s is not a directory", d->state_dir);
                report(d, "state_dir", CHECK_FAIL, detail, "brigd cannot start there");
                return;
        }
        if (st.st_mode & 022) {
                (void) snprintf(detail, sizeof(detail), "%s is writable by %s (mode %04o)", d->state_dir,
                                st.st_mode & 002 ? "others" : "its group", (unsigned) (st.st_mode & 07777));
                report(d, "state_dir", CHECK_FAIL, detail,
                       "others could replace environments, workspaces and their history; chmod go-w it");
                return;
        }
        if (st.st_uid != uid) {
                (void) snprintf(detail, sizeof(detail), "%s belongs to uid %u, not to uid %u", d->state_dir,
                                (unsigned) st.st_uid, (unsigned) uid);
                report(d, "state_dir", CHECK_WARN, detail,
                       "a brigd of this user shares or cannot write another user's environments; give each "
                       "brigd a state directory of its own");
                return;
        }
        /* As root, jails run as an unprivileged host id: it must pass through to the workspaces. */
        if (brig_host_root() &&
            brig_path_searchable_by(d->state_dir, BRIG_JAIL_HOST_ID_DEFAULT, blocker, sizeof(blocker)) < 0) {
                (void) snprintf(detail, sizeof(detail),
                                "%s: jails (host uid %u) cannot reach it because '%s' is not searchable by "
                                "others",
                                d->state_dir, BRIG_JAIL_HOST_ID_DEFAULT, blocker);
                report(d, "state_dir", CHECK_FAIL, detail,
                       "brigd refuses to start (its environments' workspaces would be out of the jails' "
                       "reach); chmod o+x the blocking directory");
                return;
        }
        (void) snprintf(detail, sizeof(detail), "%s (mode %04o, owner uid %u)", d->state_dir,
                        (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid);
        report(d, "state_dir", CHECK_OK, detail, NULL);
}

/* ---- children with output: the socket and the policies ---- */

/* Runs fn(arg) in a child whose stdout and stdin are /dev/null and whose stderr comes back in out (its
 * first line: the error that stopped it; what follows is advice). Returns its exit status, 128+N for signal
 * N, or -errno. */
static int run_captured(int (*fn)(const void *), const void *arg, char *out, size_t size) {
        _cleanup_close_ int rd = -1, wr = -1;
        char buf[4096];
        size_t len = 0;
        int p[2], st;

        out[0] = 0;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        rd = p[0];
        wr = p[1];
        (void) fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(wr, 2) < 0)
                        _exit(125);
                _exit(fn(arg));
        }
        (void) close(TAKE_FD(wr));
        for (;;) {
                ssize_t n = read(rd, buf + len, sizeof(buf) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
                if (len == sizeof(buf) - 1) { /* the rest is drained so that the child never blocks */
                        char drain[4096];
                        while (read(rd, drain, sizeof(drain)) > 0)
                                ;
                        break;
                }
        }
        buf[len] = 0;
        (void) snprintf(out, size, "%.*s", (int) strcspn(buf, "\n"), buf);
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int ping_brigd(const void *arg) {
        const char *flag = arg;
        /* A bound, not a measurement: a brigd that accepts and never answers must not hang doctor. */
        (void) alarm(30);
        brig_cli_session *s = brig_cli_session_open(flag);
        if (!s)
                return 1;
        cJSON *result = brig_cli_session_request(s, "ping", cJSON_CreateObject());
        brig_cli_session_close(s);
        cJSON_Delete(result);
        return result ? 0 : 1;
}

static void check_socket(doctor *d) {
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_free_ char *path = NULL;
        const char *source = NULL;
        char detail[1024], why[512];

        if (brig_client_socket_path(d->socket, &path, &source, &err) < 0) {
                report(d, "socket", CHECK_WARN, err.msg, "brig exec, env and mcp cannot find brigd");
                return;
        }
        int r = run_captured(ping_brigd, d->socket, why, sizeof(why));
        if (r == 0) {
                (void) snprintf(detail, sizeof(detail), "brigd answers at %s (%s)", path, source);
                report(d, "socket", CHECK_OK, detail, NULL);
                return;
        }
        /* The client's own first line names the path and the error (and the system socket it tried). */
        if (why[0])
                (void) snprintf(detail, sizeof(detail), "%s",
                                why + (strncmp(why, "brig: ", 6) == 0 ? 6 : 0));
        else
                (void) snprintf(detail, sizeof(detail), "no brigd answers at %s (%s)", path, source);
        report(d, "socket", CHECK_WARN, detail,
               "brig exec, brig env and brig mcp need a running brigd (brig run and brig doctor do not); "
               "start brigd, or name its socket with --socket or BRIG_SOCKET");
}

static int run_true(const void *arg) {
        char *argv[] = {(char *) "/bin/true", NULL};
        brig_oneshot o = {.policy_path = arg, .argv = argv};
        return brig_cli_oneshot(&o);
}

/* The policies brigd serves from a directory: its *.json files but schema.json and hidden ones
 * (worker/policies.c, load_dir). */
static int shipped_policy(const struct dirent *de) {
        size_t n = strlen(de->d_name);
        return n > 5 && strcmp(de->d_name + n - 5, ".json") == 0 && de->d_name[0] != '.' &&
               strcmp(de->d_name, "schema.json") != 0;
}

static void check_policies(doctor *d) {
        struct dirent **list = NULL;
        char name[300], detail[1024], why[512];
        int n = scandir(d->policy_dir, &list, shipped_policy, alphasort);

        if (n <= 0) {
                (void) snprintf(detail, sizeof(detail), "%s: %s", d->policy_dir,
                                n < 0 ? strerror(errno) : "no policy files");
                report(d, "policies", CHECK_FAIL, detail,
                       "brigd has no default policy to start with; name a policy directory with "
                       "--policy-dir");
                free(list);
                return;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                (void) snprintf(name, sizeof(name), "policy:%.*s", (int) strlen(list[i]->d_name) - 5,
                                list[i]->d_name);
                if (asprintf(&path, "%s/%s", d->policy_dir, list[i]->d_name) < 0)
                        path = NULL;
                int r = path ? run_captured(run_true, path, why, sizeof(why)) : -ENOMEM;
                if (r == 0) {
                        (void) snprintf(detail, sizeof(detail), "/bin/true ran in a one-shot jail of %s",
                                        path);
                        report(d, name, CHECK_OK, detail, NULL);
                } else {
                        (void) snprintf(detail, sizeof(detail), "%s could not run /bin/true (exit %d): %s",
                                        path ? path : list[i]->d_name, r,
                                        why[0] ? why + (strncmp(why, "brig: ", 6) == 0 ? 6 : 0)
                                               : "no message");
                        report(d, name, CHECK_FAIL, detail,
                               "environments of this policy cannot start: brigd and brig run refuse them; "
                               "see `brig policy test` on it");
                }
                free(list[i]);
        }
        free(list);
}

/* ---- the command ---- */

/* Every check, in the order printed: one table, which --help and docs/brig.1 describe. */
static const struct {
        const char *name;
        void (*run)(doctor *d);
} checks[] = {
        {"kernel", check_kernel},     {"userns", check_userns},
        {"seccomp", check_seccomp}, /* and seccomp_notify */
        {"landlock", check_landlock}, {"openat2, mount_setattr", check_syscalls},
        {"cgroups", check_cgroups},   {"subuid", check_subids},
        {"fd_limit", check_fd_limit}, {"state_dir", check_state_dir},
        {"socket", check_socket},     {"policies", check_policies}, /* one policy:NAME line per policy */
};

static void doctor_help(void) {
        printf("Usage: brig [--socket PATH] doctor [--json] [--socket PATH] [--state-dir DIR]\n"
               "                                 [--policy-dir DIR]\n"
               "\n"
               "Checks what brig needs from this host and this user, and prints for each item OK, WARN or\n"
               "FAIL with what is missing and what that costs (which isolation layer or feature is lost):\n"
               "the kernel version, user namespaces (and the sysctls that disable them), seccomp and its\n"
               "user notification, Landlock, openat2, mount_setattr, cgroups, subordinate ids, the fd\n"
               "limit, brigd's state directory and socket. Then it runs /bin/true in a one-shot jail of\n"
               "every policy in the policy directory, as `brig run` would.\n"
               "Exits 0 when nothing FAILed (WARN lines included), 1 when a hard requirement is missing\n"
               "or a policy could not run, 2 on a usage error.\n"
               "\n"
               "Options:\n"
               "  --json             print one JSON object: {\"checks\": [{name, status, detail, cost}],\n"
               "                     \"ok\": BOOL}\n"
               "  --socket PATH      brigd's socket to try (see below)\n"
               "  --state-dir DIR    the state directory to check (default: brigd's, for this user)\n"
               "  --policy-dir DIR   the policies to run (default: brigd's, ./policies in a source tree,\n"
               "                     else " BRIG_POLICYDIR ")\n"
               "\n" BRIG_SOCKET_LOOKUP_HELP);
}

int brig_cli_doctor(int argc, char **argv) {
        static const struct option opts[] = {
                {"json", no_argument, NULL, 'j'},
                {"socket", required_argument, NULL, 's'},
                {"state-dir", required_argument, NULL, 'S'},
                {"policy-dir", required_argument, NULL, 'P'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        _cleanup_free_ char *state_dir = NULL, *policy_dir = NULL;
        brig_error err = BRIG_ERROR_INIT;
        doctor d = {.socket = brig_cli_socket};
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        d.json = true;
                        break;
                case 's':
                        d.socket = optarg;
                        break;
                case 'S':
                        d.state_dir = optarg;
                        break;
                case 'P':
                        d.policy_dir = optarg;
                        break;
                case 'h':
                        doctor_help();
                        return 0;
                default:
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "brig doctor: unexpected argument '%s'\nTry 'brig doctor --help'.\n",
                        argv[optind]);
                return 2;
        }
        if (!d.state_dir) {
                if (brig_default_state_dir(&state_dir, &err) < 0) {
                        fprintf(stderr, "brig doctor: %s\n", err.msg);
                        return 1;
                }
                d.state_dir = state_dir;
        }
        if (!d.policy_dir) {
                if (!(policy_dir = brig_find_policy_dir())) {
                        fprintf(stderr, "brig doctor: out of memory\n");
                        return 1;
                }
                d.policy_dir = policy_dir;
        }
        _cleanup_json_ cJSON *out = d.json ? cJSON_CreateObject() : NULL;
        if (d.json && (!out || !(d.checks = cJSON_AddArrayToObject(out, "checks")))) {
                fprintf(stderr, "brig doctor: out of memory\n");
                return 1;
        }
        for (size_t i = 0; i < sizeof(checks) / sizeof(*checks); i++)
                checks[i].run(&d);
        if (!d.json) {
                printf("%s\n", d.fails ? "brig doctor: a requirement is missing or a policy could not run"
                                       : "brig doctor: brig can run here");
                return d.fails ? 1 : 0;
        }
        _cleanup_free_ char *text = cJSON_AddBoolToObject(out, "ok", d.fails == 0) ? cJSON_Print(out) : NULL;
        if (!text) {
                fprintf(stderr, "brig doctor: out of memory\n");
                return 1;
        }
        printf("%s\n", text);
        return d.fails ? 1 : 0;
}
