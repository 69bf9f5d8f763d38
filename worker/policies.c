/* SPDX-License-Identifier: MIT */
/* The worker's policy cache: one parsed policy and one compiled seccomp program per policy file. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "sandbox/seccomp.h"
#include "worker/policies.h"

static void entry_free(brig_policy_entry *e) {
        if (!e)
                return;
        free(e->name);
        free(e->path);
        brig_policy_free(e->policy);
        brig_closep(&e->seccomp_fd);
        free(e);
}

static int load_entry(const char *path, const char *key, brig_policy_entry **ret, brig_error *err) {
        brig_policy_entry *e = calloc(1, sizeof(*e));
        char real[4096];
        int r;

        if (!e)
                return -ENOMEM;
        /* Entries are known by their real path, so one file reached two ways is loaded once. */
        if (realpath(path, real))
                path = real;
        e->seccomp_fd = -1;
        r = brig_policy_load(path, &e->policy, NULL, err);
        if (r >= 0) {
                const brig_policy *p = e->policy;
                brig_seccomp_spec spec = {.profile = p->seccomp_profile,
                                          .deny = (const char *const *) p->seccomp_deny,
                                          .n_deny = p->n_seccomp_deny,
                                          .deny_audit = p->seccomp_deny_audit,
                                          .errno_ret = p->seccomp_errno,
                                          .audit = p->seccomp_audit};
                r = brig_seccomp_compile_spec(&spec, &e->seccomp_fd, err);
        }
        if (r >= 0 && (!(e->path = strdup(path)) || !(e->name = strdup(key ? key : e->policy->name))))
                r = -ENOMEM;
        if (r < 0) {
                entry_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

static brig_policy_entry *find(brig_policies *set, const char *key) {
        for (brig_policy_entry *e = set->entries; e; e = e->next)
                if (strcmp(e->name, key) == 0)
                        return e;
        return NULL;
}

int brig_policies_init(brig_policies *set, const char *dir, brig_error *err) {
        DIR *d;
        struct dirent *de;

        *set = (brig_policies){0};
        if (!(set->dir = strdup(dir)))
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "policy directory '%s'", dir);
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                _cleanup_free_ char *path = NULL;
                brig_error e2 = BRIG_ERROR_INIT;
                brig_policy_entry *e;

                if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0 || de->d_name[0] == '.')
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
                /* schema.json and the like are not policies: skip what does not load, loudly. */
                if (load_entry(path, NULL, &e, &e2) < 0) {
                        log_warning("policy '%s': %s, skipping", path, e2.msg);
                        continue;
                }
                if (find(set, e->name)) {
                        log_warning("policy '%s': name '%s' already taken, skipping", path, e->name);
                        entry_free(e);
                        continue;
                }
                e->next = set->entries;
                set->entries = e;
        }
        closedir(d);
        return 0;
}

int brig_policies_add_file(brig_policies *set, const char *path, const brig_policy_entry **ret,
                           brig_error *err) {
        brig_policy_entry *e;
        char real[4096];
        int r;

        for (e = set->entries; e; e = e->next)
                if (realpath(path, real) && strcmp(e->path, real) == 0) {
                        *ret = e;
                        return 0;
                }
        r = load_entry(path, NULL, &e, err);
        if (r < 0)
                return r;
        if (find(set, e->name)) {
                /* Named like a different file of the directory: reachable by its path only. */
                log_warning("policy '%s': name '%s' is taken in the policy directory; known by its path",
                            path, e->name);
                free(e->name);
                if (!(e->name = strdup(e->path))) {
                        entry_free(e);
                        return -ENOMEM;
                }
        }
        e->next = set->entries;
        set->entries = e;
        *ret = e;
        return 0;
}

void brig_policies_done(brig_policies *set) {
        for (brig_policy_entry *e = set->entries, *next; e; e = next) {
                next = e->next;
                entry_free(e);
        }
        free(set->dir);
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
        r = load_entry(name, name, &e, err);
        if (r < 0)
                return brig_error_prefix(err, "policy '%.100s'", name);
        e->next = set->entries;
        set->entries = e;
        *ret = e;
        return 0;
}
