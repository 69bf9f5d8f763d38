/* SPDX-License-Identifier: MIT */
/* cgroup v1/v2 groups for environments: detection, creation with limits, attach, OOM counts, removal. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/parse.h"
#include "sandbox/cgroup.h"

static const char *const v1_names[_BRIG_CG_MAX] = {"memory", "pids", "cpu"};

const char *brig_cgroup_mode_name(brig_cgroup_mode m) {
        return m == BRIG_CGROUP_V2 ? "v2" : m == BRIG_CGROUP_V1 ? "v1" : "none";
}

static int write_str(const char *dir, const char *file, const char *value) {
        char path[700];
        _cleanup_close_ int fd = -1;

        (void) snprintf(path, sizeof(path), "%s/%s", dir, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, value, strlen(value));
        return n < 0 ? -errno : 0;
}

static int read_str(const char *dir, const char *file, char *buf, size_t size) {
        char path[700];
        _cleanup_close_ int fd = -1;

        (void) snprintf(path, sizeof(path), "%s/%s", dir, file);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

/* /proc/self/cgroup whole, read once for every hierarchy it is asked about: each read costs about 10 us,
 * on brig run's way to its jail. */
static int read_own_cgroups(char *buf, size_t size) {
        _cleanup_close_ int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
        size_t len = 0;
        ssize_t n;

        if (fd < 0)
                return -errno;
        while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) != 0) {
                if (n < 0)
                        return -errno;
                len += (size_t) n;
        }
        buf[len] = 0;
        /* Past the buffer (hardly: a line per hierarchy): a cut line could name a wrong, shorter path. */
        if (len == size - 1) {
                char *nl = strrchr(buf, '\n');
                *(nl ? nl + 1 : buf) = 0;
        }
        return 0;
}

/* This process's path in a hierarchy, from the text of /proc/self/cgroup: the v2 line ("0::") or a v1 line
 * listing ctrl. */
static int own_path(const char *cgroups, const char *ctrl, char *ret, size_t size) {
        char line[1024];

        for (const char *p = cgroups; *p;) {
                size_t n = strcspn(p, "\n");
                (void) snprintf(line, sizeof(line), "%.*s", (int) n, p);
                p += n + (p[n] == '\n');
                char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
                if (!b)
                        continue;
                *b = 0;
                const char *list = a + 1;
                bool match = ctrl ? false : (list[0] == 0 && strncmp(line, "0", 1) == 0);
                if (ctrl) {
                        _cleanup_free_ char *copy = strdup(list);
                        for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
                             t = strtok_r(NULL, ",", &save))
                                if (strcmp(t, ctrl) == 0)
                                        match = true;
                }
                if (match) {
                        (void) snprintf(ret, size, "%s", strcmp(b + 1, "/") == 0 ? "" : b + 1);
                        return 0;
                }
        }
        return -ENOENT;
}

/* A short name for one worker's groups, from its state directory: two workers on one host (different
 * state directories) never share or clean up each other's groups, and a restarted worker finds its own
 * leftovers. FNV-1a 64 of the directory's real path. */
int brig_cgroup_instance_name(const char *state_dir, char *ret, size_t size) {
        char real[PATH_MAX];
        uint64_t h = UINT64_C(14695981039346656037);

        if (!realpath(state_dir, real))
                return -errno;
        for (const char *p = real; *p; p++) {
                h ^= (unsigned char) *p;
                h *= UINT64_C(1099511628211);
        }
        if (snprintf(ret, size, "d-%016llx", (unsigned long long) h) >= (int) size)
                return -ENAMETOOLONG;
        return 0;
}

/* Leftovers of a previous worker are empty once their processes died with it. */
static void remove_empty_children(const char *base) {
        DIR *d = opendir(base);
        struct dirent *de;
        char path[1024];

        while (d && (de = readdir(d)))
                if (de->d_type == DT_DIR && de->d_name[0] != '.') {
                        (void) snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
                        (void) rmdir(path);
                }
        if (d)
                closedir(d);
}

static bool usable_dir(const char *base) {
        if (mkdir(base, 0755) < 0 && errno != EEXIST)
                return false;
        return access(base, W_OK) == 0;
}

/* The worker's own parent "brig/<instance>" (and "brig/" above it), or "brig/" alone when shared; on v2
 * each level hands memory, pids and cpu down. Also used when a group is created: an older brigd may have
 * removed an idle worker's empty parent. */
static int ensure_base(brig_cgroup_mode mode, const char *base, bool shared) {
        char parent[512];
        const char *slash = strrchr(base, '/');

        if (!slash)
                return -EINVAL;
        (void) snprintf(parent, sizeof(parent), "%.*s", (int) (slash - base), base);
        /* Shared: the parent is our own group, which only its owner hands controllers down from. */
        if ((!shared && !usable_dir(parent)) || !usable_dir(base))
                return errno > 0 ? -errno : -EACCES;
        if (mode == BRIG_CGROUP_V2) {
                int r = shared ? 0 : write_str(parent, "cgroup.subtree_control", "+memory +pids +cpu");
                if (r < 0 || (r = write_str(base, "cgroup.subtree_control", "+memory +pids +cpu")) < 0)
                        return r;
        }
        return 0;
}

/* instance NULL: the shared root (brig_cgroup_detect_shared()). */
static void detect(const char *instance, brig_cgroup_root *ret) {
        char own[512], ctrls[256] = "", leaf[80] = "", cgroups[16384] = "";
        bool shared = !instance;

        *ret = (brig_cgroup_root){.mode = BRIG_CGROUP_NONE, .shared = shared};
        if (!shared)
                (void) snprintf(leaf, sizeof(leaf), "/%s", instance);
        /* v2: the unified hierarchy at /sys/fs/cgroup with the controllers we need. */
        (void) read_own_cgroups(cgroups, sizeof(cgroups));
        if (read_str("/sys/fs/cgroup", "cgroup.controllers", ctrls, sizeof(ctrls)) == 0 &&
            own_path(cgroups, NULL, own, sizeof(own)) == 0) {
                char base[512];
                (void) snprintf(base, sizeof(base), "/sys/fs/cgroup%s/brig%s", own, leaf);
                /* brig/ needs memory, pids and cpu delegated from our own group. */
                if (!strstr(ctrls, "memory") || !strstr(ctrls, "pids") || !strstr(ctrls, "cpu"))
                        (void) snprintf(ret->why, sizeof(ret->why), "cgroup v2 lacks memory, pids or cpu");
                else if (ensure_base(BRIG_CGROUP_V2, base, shared) < 0) {
                        /* Kept for brig_cgroup_root_remove(): the directory may have been made. */
                        (void) snprintf(ret->base[0], sizeof(ret->base[0]), "%s", base);
                        (void) snprintf(ret->why, sizeof(ret->why),
                                        "cgroup v2: cannot create %s with memory, pids and cpu enabled (not "
                                        "delegated to this user?)",
                                        base);
                } else {
                        ret->mode = BRIG_CGROUP_V2;
                        for (int i = 0; i < _BRIG_CG_MAX; i++)
                                (void) snprintf(ret->base[i], sizeof(ret->base[i]), "%s", base);
                        if (!shared)
                                remove_empty_children(base);
                        return;
                }
        }
        /* v1: one hierarchy per controller. */
        for (int i = 0; i < _BRIG_CG_MAX; i++) {
                char mount[300];
                (void) snprintf(mount, sizeof(mount), "/sys/fs/cgroup/%s", v1_names[i]);
                if (own_path(cgroups, v1_names[i], own, sizeof(own)) < 0 || access(mount, F_OK) < 0) {
                        if (!ret->why[0])
                                (void) snprintf(ret->why, sizeof(ret->why), "no cgroup v1 %s hierarchy",
                                                v1_names[i]);
                        return;
                }
                (void) snprintf(ret->base[i], sizeof(ret->base[i]), "%s%s/brig%s", mount, own, leaf);
                if (ensure_base(BRIG_CGROUP_V1, ret->base[i], shared) < 0) {
                        (void) snprintf(ret->why, sizeof(ret->why),
                                        "cgroup v1: cannot create %s (rootless?)", ret->base[i]);
                        return;
                }
        }
        ret->mode = BRIG_CGROUP_V1;
        ret->why[0] = 0;
        for (int i = 0; i < _BRIG_CG_MAX && !shared; i++)
                remove_empty_children(ret->base[i]);
}

void brig_cgroup_detect(const char *instance, brig_cgroup_root *ret) {
        detect(instance, ret);
}

void brig_cgroup_detect_shared(brig_cgroup_root *ret) {
        detect(NULL, ret);
}

/* Creates dir, and the worker's parent above it if something removed it. */
static int make_dir(const brig_cgroup_root *root, const char *base, const char *dir) {
        if (mkdir(dir, 0755) == 0)
                return 0;
        if (errno != ENOENT || ensure_base(root->mode, base, root->shared) < 0)
                return -errno;
        return mkdir(dir, 0755) < 0 ? -errno : 0;
}

/* New directories only, "name" or else "name.N": a group of the same name may still be on its way out
 * (processes of a stopped jail leaving it, removal retried), and must not be shared with the new start. */
static int make_group(const brig_cgroup_root *root, const char *name, brig_cgroup *ret, brig_error *err) {
        int n = root->mode == BRIG_CGROUP_V2 ? 1 : _BRIG_CG_MAX, r = -EEXIST;

        for (unsigned attempt = 0; attempt < 16 && r == -EEXIST; attempt++) {
                char leaf[128];
                int i;
                (void) snprintf(leaf, sizeof(leaf), attempt ? "%s.%u" : "%s", name, attempt);
                for (i = 0, r = 0; i < n && r == 0; i++) {
                        (void) snprintf(ret->path[i], sizeof(ret->path[i]), "%s/%s", root->base[i], leaf);
                        r = make_dir(root, root->base[i], ret->path[i]);
                }
                if (r < 0) /* the one that failed is not ours */
                        for (int k = 0; k < i - 1; k++)
                                (void) rmdir(ret->path[k]);
        }
        if (r < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "cgroup '%s'", ret->path[0]);
        /* v2: one directory for all three controllers. */
        for (int i = n; i < _BRIG_CG_MAX; i++)
                memcpy(ret->path[i], ret->path[0], sizeof(ret->path[0]));
        return 0;
}

int brig_cgroup_create(const brig_cgroup_root *root, const char *name, const brig_limits *l,
                       brig_cgroup *ret, brig_error *err) {
        int r;

        *ret = (brig_cgroup){.mode = root->mode, .oom_fd = -1};
        if (root->mode == BRIG_CGROUP_NONE)
                return 0;
        if ((r = make_group(root, name, ret, err)) < 0) {
                *ret = (brig_cgroup){.mode = BRIG_CGROUP_NONE, .oom_fd = -1};
                return r;
        }
        return l ? brig_cgroup_set_limits(ret, l, err) : 0;
}

int brig_cgroup_set_limits(const brig_cgroup *cg, const brig_limits *l, brig_error *err) {
        char v[64];
        int r;

        if (cg->mode == BRIG_CGROUP_NONE)
                return 0;
        uint64_t quota = (uint64_t) (l->cpus * 100000.0 + 0.5);
        if (cg->mode == BRIG_CGROUP_V2) {
                (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) l->memory_bytes);
                if ((r = write_str(cg->path[BRIG_CG_MEMORY], "memory.max", v)) < 0)
                        return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "cgroup memory.max");
                (void) write_str(cg->path[BRIG_CG_MEMORY], "memory.swap.max", "0");
                (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) l->processes);
                if ((r = write_str(cg->path[BRIG_CG_PIDS], "pids.max", v)) < 0)
                        return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "cgroup pids.max");
                (void) snprintf(v, sizeof(v), "%llu 100000", (unsigned long long) quota);
                if ((r = write_str(cg->path[BRIG_CG_CPU], "cpu.max", v)) < 0)
                        return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "cgroup cpu.max");
                return 0;
        }
        (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) l->memory_bytes);
        if ((r = write_str(cg->path[BRIG_CG_MEMORY], "memory.limit_in_bytes", v)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "cgroup memory.limit_in_bytes");
        (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) l->processes);
        if ((r = write_str(cg->path[BRIG_CG_PIDS], "pids.max", v)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "cgroup pids.max");
        /* A new group's period is the kernel's default, 100000 us, which the quota is made for: no write
         * (each bandwidth write costs 0.15 ms, the first after a pause ~1 ms). */
        (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) quota);
        if ((r = write_str(cg->path[BRIG_CG_CPU], "cpu.cfs_quota_us", v)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "cgroup cpu.cfs_quota_us");
        return 0;
}

int brig_cgroup_open_procs(const brig_cgroup *cg, int fds[_BRIG_CG_MAX], brig_error *err) {
        int n = 0;

        if (cg->mode == BRIG_CGROUP_NONE)
                return 0;
        for (int i = 0; i < (cg->mode == BRIG_CGROUP_V2 ? 1 : _BRIG_CG_MAX); i++) {
                char path[700];
                (void) snprintf(path, sizeof(path), "%s/%s", cg->path[i],
                                brig_cgroup_joins_self(cg) ? "tasks" : "cgroup.procs");
                fds[n] = open(path, O_WRONLY | O_CLOEXEC);
                if (fds[n] < 0) {
                        int r = brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "open '%s'", path);
                        while (n > 0)
                                (void) close(fds[--n]);
                        return r;
                }
                n++;
        }
        return n;
}

int brig_cgroup_oom_kills(brig_cgroup *cg, uint64_t *ret) {
        char buf[1024];

        if (cg->mode == BRIG_CGROUP_NONE)
                return -EOPNOTSUPP;
        if (cg->oom_fd < 0) {
                char oom[700];
                (void) snprintf(oom, sizeof(oom), "%s/%s", cg->path[BRIG_CG_MEMORY],
                                cg->mode == BRIG_CGROUP_V2 ? "memory.events" : "memory.oom_control");
                if ((cg->oom_fd = open(oom, O_RDONLY | O_CLOEXEC)) < 0)
                        return -errno;
        }
        /* cgroupfs files regenerate on a read from offset 0. */
        ssize_t n = pread(cg->oom_fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        char *at = strstr(buf, "oom_kill ");
        if (!at)
                return -ENODATA;
        at += strlen("oom_kill ");
        at[strcspn(at, "\n")] = 0;
        return brig_parse_u64(at, ret);
}

void brig_cgroup_oom_release(brig_cgroup *cg) {
        brig_closep(&cg->oom_fd);
}

void brig_cgroup_rename(brig_cgroup *cg, const char *name) {
        char prev_old[sizeof(cg->path[0])] = "";

        for (int i = 0; i < _BRIG_CG_MAX; i++) {
                char *p = cg->path[i], *slash = strrchr(p, '/');
                char old[sizeof(cg->path[0])], path[sizeof(cg->path[0])];
                if (!slash)
                        continue;
                memcpy(old, p, sizeof(old));
                /* v2 lists one directory thrice: it moves once. */
                if (i > 0 && strcmp(old, prev_old) == 0)
                        memcpy(p, cg->path[i - 1], sizeof(old));
                else {
                        (void) snprintf(path, sizeof(path), "%.*s/%s", (int) (slash - p), p, name);
                        if (rename(old, path) == 0)
                                memcpy(p, path, sizeof(path));
                }
                memcpy(prev_old, old, sizeof(old));
        }
}

int brig_cgroup_remove(brig_cgroup *cg) {
        int r = 0;

        brig_closep(&cg->oom_fd);
        if (cg->mode == BRIG_CGROUP_NONE)
                return 0;
        /* v2 names one directory thrice: after the first rmdir the others find it gone. */
        for (int i = 0; i < _BRIG_CG_MAX; i++) {
                if (!cg->path[i][0])
                        continue;
                if (rmdir(cg->path[i]) < 0 && errno != ENOENT) {
                        if (r == 0)
                                r = -errno;
                } else
                        cg->path[i][0] = 0;
        }
        return r;
}

void brig_cgroup_kill(const brig_cgroup *cg) {
        for (int i = 0; i < _BRIG_CG_MAX && cg->mode != BRIG_CGROUP_NONE; i++) {
                char path[700], line[32];
                if (!cg->path[i][0])
                        continue;
                /* v2 (5.14+): the kernel kills the whole group at once. */
                if (cg->mode == BRIG_CGROUP_V2 && write_str(cg->path[i], "cgroup.kill", "1") == 0)
                        continue;
                (void) snprintf(path, sizeof(path), "%s/cgroup.procs", cg->path[i]);
                _cleanup_fclose_ FILE *f = fopen(path, "re");
                while (f && fgets(line, sizeof(line), f)) {
                        int pid;
                        line[strcspn(line, "\n")] = 0;
                        if (brig_parse_int(line, &pid) == 0 && pid > 1)
                                (void) kill(pid, SIGKILL);
                }
        }
}

void brig_cgroup_root_remove(brig_cgroup_root *root) {
        for (int i = 0; i < _BRIG_CG_MAX && !root->shared; i++)
                if (root->base[i][0] && (rmdir(root->base[i]) == 0 || errno == ENOENT))
                        root->base[i][0] = 0;
}

bool brig_cgroup_empty(const brig_cgroup *cg) {
        for (int i = 0; i < _BRIG_CG_MAX; i++)
                if (cg->path[i][0])
                        return false;
        return true;
}
