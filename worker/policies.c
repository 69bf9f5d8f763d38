/* SPDX-License-Identifier: MIT */
/* The worker's policy cache: one parsed policy and one compiled seccomp program per policy file, reloaded on
 * SIGHUP (worker/reload.c). Programs are shared by filter key: a reload, or two policies that differ only
 * outside `seccomp`, compile nothing new. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/log.h"
#include "sandbox/seccomp.h"
#include "worker/audit_events.h"
#include "worker/policies.h"

extern char **environ;

static void entry_free(brig_policy_entry *e) {
        if (!e)
                return;
        free(e->name);
        free(e->path);
        brig_policy_free(e->policy);
        brig_closep(&e->seccomp_fd);
        free(e);
}

static void entries_free(brig_policy_entry *e) {
        for (brig_policy_entry *next; e; e = next) {
                next = e->next;
                entry_free(e);
        }
}

/* A compiled program another entry already has, to share instead of compiling again: a sealed memfd that
 * brig-jail reads with pread, so any number of jails can use one. */
static int cached_program(const brig_policy_entry *cache, const char *key) {
        for (const brig_policy_entry *c = cache; c; c = c->next)
                if (c->seccomp_fd >= 0 && strcmp(c->filter_key, key) == 0)
                        return fcntl(c->seccomp_fd, F_DUPFD_CLOEXEC, 3);
        return -1;
}

static int load_entry(const char *path, const char *key, const brig_policy_entry *cache,
                      brig_policy_entry **ret, brig_error *err) {
        brig_policy_entry *e = calloc(1, sizeof(*e));
        char real[4096];
        int r;

        if (!e)
                return brig_error_oom(err);
        /* Entries are known by their real path, so one file reached two ways is loaded once. */
        if (realpath(path, real))
                path = real;
        e->seccomp_fd = -1;
        r = brig_policy_load(path, &e->policy, NULL, err);
        if (r >= 0 && brig_policy_env_pass(e->policy, environ) < 0)
                r = brig_error_oom(err);
        if (r >= 0 && (r = brig_policy_seccomp_key(e->policy, e->filter_key)) < 0)
                r = brig_error_set(err, r, BRIG_KIND_INTERNAL, "policy digest failed");
        if (r >= 0 && (e->seccomp_fd = cached_program(cache, e->filter_key)) < 0)
                r = brig_policy_compile_seccomp(e->policy, &e->seccomp_fd, err);
        if (r >= 0 && (!(e->path = strdup(path)) || !(e->name = strdup(key ? key : e->policy->name))))
                r = brig_error_oom(err);
        if (r < 0) {
                entry_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

static brig_policy_entry *find_in(brig_policy_entry *list, const char *key) {
        for (brig_policy_entry *e = list; e; e = e->next)
                if (strcmp(e->name, key) == 0)
                        return e;
        return NULL;
}

static brig_policy_entry *find(brig_policies *set, const char *key) {
        return find_in(set->entries, key);
}

/* A failure while loading a directory: at start-up a warning, on reload a reason to keep the old set when
 * the file served before. */
typedef struct load_failure {
        char *path;
        char msg[sizeof(((brig_error *) 0)->msg)];
        struct load_failure *next;
} load_failure;

static void failures_free(load_failure *f) {
        for (load_failure *next; f; f = next) {
                next = f->next;
                free(f->path);
                free(f);
        }
}

/* Returns -ENOMEM when it cannot: a failure left unnoted would look like a removal to a reload. */
static int note_failure(load_failure **list, const char *path, const char *msg) {
        load_failure *f = calloc(1, sizeof(*f));
        char real[4096];

        if (!f)
                return -ENOMEM;
        if (!(f->path = strdup(realpath(path, real) ? real : path))) {
                free(f);
                return -ENOMEM;
        }
        (void) snprintf(f->msg, sizeof(f->msg), "%s", msg);
        f->next = *list;
        *list = f;
        return 0;
}

/* Loads every *.json of dir onto *list; files that do not load are logged and noted. Out of memory fails
 * the whole directory rather than pass for a file that does not load. Blocking. */
static int load_dir(const char *dir, const brig_policy_entry *cache, brig_policy_entry **list,
                    load_failure **failures, brig_error *err) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "policy directory '%s'", dir);
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                _cleanup_free_ char *path = NULL;
                brig_error e2 = BRIG_ERROR_INIT;
                brig_policy_entry *e;

                if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0 || de->d_name[0] == '.' ||
                    strcmp(de->d_name, "schema.json") == 0)
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return brig_error_oom(err);
                int r = load_entry(path, NULL, cache, &e, &e2);
                if (r == -ENOMEM)
                        return brig_error_oom(err);
                if (r < 0) {
                        log_warning("policy '%s': %s, skipping", path, e2.msg);
                        if (note_failure(failures, path, e2.msg) < 0)
                                return brig_error_oom(err);
                        continue;
                }
                if (find_in(*list, e->name)) {
                        log_warning("policy '%s': name '%s' already taken, skipping", path, e->name);
                        entry_free(e);
                        continue;
                }
                e->next = *list;
                *list = e;
        }
        return 0;
}

/* Finds the entry loaded from path on *list, or loads it there under its own name (or its path, when a
 * file of the directory has that name). */
static int add_file(brig_policy_entry **list, const char *path, const brig_policy_entry *cache,
                    brig_policy_entry **ret, brig_error *err) {
        brig_policy_entry *e;
        char real[4096];
        int r;

        for (e = realpath(path, real) ? *list : NULL; e; e = e->next)
                if (strcmp(e->path, real) == 0) {
                        *ret = e;
                        return 0;
                }
        r = load_entry(path, NULL, cache, &e, err);
        if (r < 0)
                return r;
        if (find_in(*list, e->name)) {
                /* Named like a different file of the directory: reachable by its path only. */
                log_warning("policy '%s': name '%s' is taken in the policy directory; known by its path",
                            path, e->name);
                free(e->name);
                if (!(e->name = strdup(e->path))) {
                        entry_free(e);
                        return brig_error_oom(err);
                }
        }
        e->next = *list;
        *list = e;
        *ret = e;
        return 0;
}

int brig_policies_init(brig_policies *set, const char *dir, brig_error *err) {
        load_failure *failures = NULL;
        int r;

        *set = (brig_policies){0};
        if (!(set->dir = strdup(dir)))
                return brig_error_oom(err);
        r = load_dir(dir, NULL, &set->entries, &failures, err);
        failures_free(failures);
        return r;
}

int brig_policies_add_file(brig_policies *set, const char *path, const brig_policy_entry **ret,
                           brig_error *err) {
        brig_policy_entry *e;
        int r = add_file(&set->entries, path, set->entries, &e, err);

        if (r < 0)
                return r;
        free(set->default_path);
        if (!(set->default_path = strdup(e->path)))
                return brig_error_oom(err);
        *ret = e;
        return 0;
}

void brig_policies_done(brig_policies *set) {
        entries_free(set->entries);
        entries_free(set->retired);
        free(set->dir);
        free(set->default_path);
        *set = (brig_policies){0};
}

int brig_policies_get(brig_policies *set, const char *name, bool allow_path, const brig_policy_entry **ret,
                      brig_error *err) {
        brig_policy_entry *e;
        int r;

        if (!strchr(name, '/')) {
                e = find(set, name);
                if (!e)
                        return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "no policy named \"%.64s\"",
                                              name);
                *ret = e;
                return 0;
        }
        if (!allow_path)
                return brig_error_set(err, -EPERM, BRIG_KIND_DENIED,
                                      "a policy file path may be given only by root or an admin uid; name a "
                                      "policy from the worker's policy directory instead");
        if ((e = find(set, name))) {
                *ret = e;
                return 0;
        }
        r = load_entry(name, name, set->entries, &e, err);
        if (r < 0)
                return brig_error_prefix(err, "policy '%.100s'", name);
        e->next = set->entries;
        set->entries = e;
        *ret = e;
        return 0;
}

const brig_policy_entry *brig_policies_find(const brig_policies *set, const char *name) {
        return find_in(set->entries, name);
}

/* --- reload ------------------------------------------------------------------------------------------- */

struct brig_policies_reload {
        char *dir;
        char *default_path;
        char **paths; /* policies clients named by path: loaded again under the same key */
        size_t n_paths;
        brig_policy_entry *cache; /* copies of the current entries' programs, by filter key */

        brig_policy_entry *entries; /* the new set */
        brig_policy_entry *default_entry;
        load_failure *failures;
        brig_error err; /* a failure of the directory or the default policy */
        int r;
};

void brig_policies_reload_free(brig_policies_reload *rl) {
        if (!rl)
                return;
        free(rl->dir);
        free(rl->default_path);
        for (size_t i = 0; i < rl->n_paths; i++)
                free(rl->paths[i]);
        free(rl->paths);
        entries_free(rl->cache);
        entries_free(rl->entries);
        failures_free(rl->failures);
        free(rl);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(brig_policies_reload *, brig_policies_reload_free);

brig_policies_reload *brig_policies_reload_new(const brig_policies *set) {
        _cleanup_(brig_policies_reload_freep) brig_policies_reload *rl = calloc(1, sizeof(*rl));
        size_t n = 0;

        if (!rl || !(rl->dir = strdup(set->dir)) ||
            (set->default_path && !(rl->default_path = strdup(set->default_path))))
                return NULL;
        rl->err = (brig_error) BRIG_ERROR_INIT;
        for (const brig_policy_entry *e = set->entries; e; e = e->next)
                n++;
        if (!(rl->paths = calloc(n ? n : 1, sizeof(char *))))
                return NULL;
        for (const brig_policy_entry *e = set->entries; e; e = e->next) {
                brig_policy_entry *c;
                if (strchr(e->name, '/') && !(rl->paths[rl->n_paths++] = strdup(e->name)))
                        return NULL;
                /* The worker thread must not touch the live set: it gets its own fds to share. */
                if (!(c = calloc(1, sizeof(*c))))
                        return NULL;
                memcpy(c->filter_key, e->filter_key, sizeof(c->filter_key));
                c->seccomp_fd = fcntl(e->seccomp_fd, F_DUPFD_CLOEXEC, 3);
                c->next = rl->cache;
                rl->cache = c;
        }
        return TAKE_PTR(rl);
}

void brig_policies_reload_run(brig_policies_reload *rl) {
        rl->r = load_dir(rl->dir, rl->cache, &rl->entries, &rl->failures, &rl->err);
        if (rl->r < 0)
                return;
        if (rl->default_path) {
                rl->r = add_file(&rl->entries, rl->default_path, rl->cache, &rl->default_entry, &rl->err);
                if (rl->r < 0) {
                        (void) brig_error_prefix(&rl->err, "default policy '%s'", rl->default_path);
                        return;
                }
        }
        for (size_t i = 0; i < rl->n_paths; i++) {
                brig_policy_entry *e;
                brig_error e2 = BRIG_ERROR_INIT;
                if (find_in(rl->entries, rl->paths[i]))
                        continue;
                if (load_entry(rl->paths[i], rl->paths[i], rl->cache, &e, &e2) < 0) {
                        log_warning("policy '%s': %s", rl->paths[i], e2.msg);
                        note_failure(&rl->failures, rl->paths[i], e2.msg);
                        continue;
                }
                e->next = rl->entries;
                rl->entries = e;
        }
}

/* The summary is for the audit trail; a name it cannot hold does not stop the reload. */
static void list_add(cJSON *list, const char *name) {
        if (list)
                (void) cJSON_AddItemToArray(list, cJSON_CreateString(name));
}

int brig_policies_reload_commit(brig_policies *set, brig_policies_reload *rl,
                                const brig_policy_entry **ret_default, cJSON *summary, brig_error *err) {
        cJSON *changed, *added, *removed;
        brig_policy_entry *next_set = NULL, *e, *next;

        brig_audit_policy_reload_lists(summary, &changed, &added, &removed);
        if (rl->r < 0) {
                *err = rl->err;
                return rl->r;
        }
        /* A policy that serves today and no longer loads keeps the whole old set: half a reload would
         * leave clients that name it without a policy. A file that is gone is a removal, not a failure. */
        for (const load_failure *f = rl->failures; f; f = f->next)
                for (const brig_policy_entry *o = set->entries; o; o = o->next)
                        if (strcmp(o->path, f->path) == 0)
                                return brig_error_set(err, -EINVAL, BRIG_KIND_POLICY, "policy '%s': %s",
                                                      f->path, f->msg);

        for (e = rl->entries; e; e = next) {
                brig_policy_entry *o = find(set, e->name);
                next = e->next;
                if (o && strcmp(o->path, e->path) == 0 &&
                    strcmp(o->policy->digest, e->policy->digest) == 0) {
                        /* Unchanged: the old entry stays, so environments using it see no difference. */
                        if (rl->default_entry == e)
                                rl->default_entry = o;
                        o->keep = true;
                        entry_free(e);
                        continue;
                }
                list_add(o ? changed : added, e->name);
                e->next = next_set;
                next_set = e;
        }
        rl->entries = NULL;
        for (e = set->entries; e; e = next) {
                next = e->next;
                if (e->keep) {
                        e->keep = false;
                        e->next = next_set;
                        next_set = e;
                        continue;
                }
                if (!find_in(next_set, e->name))
                        list_add(removed, e->name);
                /* Environments started with it keep it until they stop. */
                e->next = set->retired;
                set->retired = e;
        }
        set->entries = next_set;
        if (rl->default_entry)
                *ret_default = rl->default_entry;
        return 0;
}

void brig_policies_hold(const brig_policy_entry *e) {
        if (e)
                ((brig_policy_entry *) e)->users++;
}

void brig_policies_release(brig_policies *set, const brig_policy_entry *e) {
        if (!e)
                return;
        assert(e->users > 0);
        ((brig_policy_entry *) e)->users--;
        if (e->users == 0)
                brig_policies_gc(set);
}

void brig_policies_gc(brig_policies *set) {
        brig_policy_entry **p = &set->retired;

        while (*p) {
                brig_policy_entry *e = *p;
                if (e->users > 0) {
                        p = &e->next;
                        continue;
                }
                *p = e->next;
                entry_free(e);
        }
}
