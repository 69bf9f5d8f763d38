/* SPDX-License-Identifier: MIT */
/* The default socket path shared by brig and brigd (see paths.h for the rule and why). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/paths.h"

/* Root of the host, not of a user namespace: `unshare -r` makes a developer uid 0 without giving them
 * /run, and its socket belongs in their own runtime directory, where their clients outside look. */
bool brig_host_root(void) {
        _cleanup_fclose_ FILE *f = NULL;
        unsigned long inside, outside, count;

        if (geteuid() != 0)
                return false;
        f = fopen("/proc/self/uid_map", "re");
        /* Without /proc there is no telling: the initial namespace is the common case. */
        if (!f)
                return true;
        return fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 && outside == 0 &&
               count == 4294967295UL;
}

int brig_default_socket_dir(char **ret, brig_error *err) {
        const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
        char *s = NULL;
        int r;

        if (brig_host_root())
                r = asprintf(&s, "%s", BRIG_SOCKET_ROOT_DIR);
        else if (xdg && xdg[0] == '/')
                r = asprintf(&s, "%s/brig", xdg);
        else
                r = asprintf(&s, "/run/user/%u/brig", (unsigned) geteuid());
        if (r < 0)
                return brig_error_oom(err);
        *ret = s;
        return 0;
}

int brig_default_socket_path(char **ret, brig_error *err) {
        char *dir = NULL, *s = NULL;
        int r;

        if ((r = brig_default_socket_dir(&dir, err)) < 0)
                return r;
        r = asprintf(&s, "%s/%s", dir, BRIG_SOCKET_NAME);
        free(dir);
        if (r < 0)
                return brig_error_oom(err);
        *ret = s;
        return 0;
}

int brig_client_socket_path(const char *flag, char **ret, const char **ret_source, brig_error *err) {
        const char *env = secure_getenv("BRIG_SOCKET");

        if (flag || (env && env[0])) {
                if (!(*ret = strdup(flag ? flag : env)))
                        return brig_error_oom(err);
                *ret_source = flag ? "--socket" : "$BRIG_SOCKET";
                return 0;
        }
        *ret_source = "the default path";
        return brig_default_socket_path(ret, err);
}

int brig_default_state_dir(char **ret, brig_error *err) {
        const char *xdg = secure_getenv("XDG_STATE_HOME"), *home = secure_getenv("HOME");
        char *s = NULL;
        int r;

        if (geteuid() == 0)
                r = asprintf(&s, "/var/lib/brig");
        else if (xdg && xdg[0] == '/')
                r = asprintf(&s, "%s/brig", xdg);
        else if (home && home[0] == '/')
                r = asprintf(&s, "%s/.local/state/brig", home);
        else
                r = asprintf(&s, "/tmp/brig-%u", geteuid());
        if (r < 0)
                return brig_error_oom(err);
        *ret = s;
        return 0;
}

char *brig_find_libexec(const char *name) {
        _cleanup_free_ char *rel = NULL;
        char *s = brig_exe_relative_path(name, X_OK);

        /* Empty when bindir or libexecdir is absolute: then nothing is relative to anything. */
        if (BRIG_BIN_TO_LIBEXECDIR[0] && !s && asprintf(&rel, "%s/%s", BRIG_BIN_TO_LIBEXECDIR, name) >= 0)
                s = brig_exe_relative_path(rel, X_OK);
        if (!s && asprintf(&s, "%s/%s", BRIG_LIBEXECDIR, name) < 0)
                s = NULL;
        return s;
}

char *brig_find_jail_helper(void) {
        return brig_find_libexec("brig-jail");
}

char *brig_find_policy_dir(void) {
        char *s = NULL;

        if (access("policies", R_OK | X_OK) == 0)
                return strdup("policies");
        if (BRIG_BIN_TO_POLICYDIR[0])
                s = brig_exe_relative_path(BRIG_BIN_TO_POLICYDIR, R_OK | X_OK);
        return s ? s : strdup(BRIG_POLICYDIR);
}
