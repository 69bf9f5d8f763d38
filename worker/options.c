/* SPDX-License-Identifier: MIT */
/* brigd's options as one table: getopt's list, the configuration file's keys, the parsing with its bounds
 * and the --help text all come from the rows below, so an option cannot be parsed and left out of the help,
 * documented with other bounds, or set in the file with other checks than on the command line.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/parse.h"
#include "worker/options.h"

#define HELP_COLUMN 20 /* where help text starts */

typedef enum arg_kind {
        ARG_NONE,     /* a switch: parse() runs */
        ARG_STRING,   /* stored as given (points into argv) */
        ARG_UNSIGNED, /* an unsigned member, from min to max */
        ARG_CUSTOM,   /* parse() checks and stores it */
} arg_kind;

typedef struct option_def {
        const char *name;
        char short_name; /* 0: none */
        const char *metavar;
        arg_kind kind;
        size_t offset; /* ARG_STRING, ARG_UNSIGNED: the member of brig_worker_options */
        uint64_t min, max;
        const char *unit; /* ARG_UNSIGNED: said after the bounds in an error */
        /* where: "--name", or "FILE:LINE: name" for the configuration file, to start an error with. */
        int (*parse)(brigd_cmdline *c, const char *where, const char *arg);
        /* Repeatable options: empties the list, so that flags replace what the file listed. */
        void (*reset)(brigd_cmdline *c);
        bool cmdline_only; /* not a key of the configuration file */
        /* A printf format whose conversions take help_args (unsigned long long) or are literal; lines after
         * the first are indented to HELP_COLUMN. */
        const char *help;
        unsigned long long help_args[3];
} option_def;

static int usage_error(const char *where, const char *fmt, const char *arg) {
        fprintf(stderr, "brigd: %s: ", where);
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
        return -EINVAL;
}

static int set_help(brigd_cmdline *c, const char *where, const char *arg) {
        (void) where;
        (void) arg;
        c->help = true;
        return 0;
}

static int set_version(brigd_cmdline *c, const char *where, const char *arg) {
        (void) where;
        (void) arg;
        c->version = true;
        return 0;
}

static int set_config(brigd_cmdline *c, const char *where, const char *arg) {
        (void) where;
        c->config = arg;
        return 0;
}

static int add_admin_uid(brigd_cmdline *c, const char *where, const char *arg) {
        uint64_t id;

        if (brig_parse_u64(arg, &id) < 0 || id >= 0xffffffffu)
                return usage_error(where, "expected a uid, got '%s'", arg);
        if (c->o.n_admin_uids >= BRIG_MAX_ADMIN_UIDS) {
                fprintf(stderr, "brigd: %s: at most %d\n", where, BRIG_MAX_ADMIN_UIDS);
                return -EINVAL;
        }
        c->admin_uids[c->o.n_admin_uids++] = (uid_t) id;
        return 0;
}

static void reset_admin_uids(brigd_cmdline *c) {
        c->o.n_admin_uids = 0;
}

static int add_resolve(brigd_cmdline *c, const char *where, const char *arg) {
        brig_error err = BRIG_ERROR_INIT;

        if (c->o.n_resolve >= BRIG_PROXY_MAX_RESOLVE) {
                fprintf(stderr, "brigd: %s: at most %d\n", where, BRIG_PROXY_MAX_RESOLVE);
                return -EINVAL;
        }
        if (brig_proxy_resolve_parse(arg, &c->resolve[c->o.n_resolve], &err) < 0) {
                fprintf(stderr, "brigd: %s: %s\n", where, err.msg);
                return -EINVAL;
        }
        c->o.n_resolve++;
        return 0;
}

static void reset_resolve(brigd_cmdline *c) {
        c->o.n_resolve = 0;
}

/* Octal permission bits that keep the owner's read and write (brigd's own probe of a stale socket, and
 * root's clients, need no more; an owner locked out is a typo). */
static int set_socket_mode(brigd_cmdline *c, const char *where, const char *arg) {
        char *end = NULL;
        unsigned long v;

        errno = 0;
        v = strtoul(arg, &end, 8);
        if (errno || !end || end == arg || *end || v > 0777 || (v & 0600) != 0600)
                return usage_error(where,
                                   "expected octal permissions from 0600 to 0777 with the owner's rw (e.g. "
                                   "0660), got '%s'",
                                   arg);
        c->o.socket_mode = (mode_t) v;
        return 0;
}

/* A group name, or a numeric gid (which need not be named in /etc/group). */
static int set_socket_group(brigd_cmdline *c, const char *where, const char *arg) {
        struct group gr, *res = NULL;
        char buf[4096];
        uint64_t v;

        if (brig_parse_u64(arg, &v) == 0) {
                if (v >= 0xffffffffu)
                        return usage_error(where, "gid out of range: '%s'", arg);
                c->o.socket_gid = (gid_t) v;
        } else {
                int r = getgrnam_r(arg, &gr, buf, sizeof(buf), &res);
                if (r != 0 || !res) {
                        fprintf(stderr, "brigd: %s: no group named '%s'%s%s\n", where, arg, r ? ": " : "",
                                r ? strerror(r) : "");
                        return -EINVAL;
                }
                c->o.socket_gid = res->gr_gid;
        }
        c->o.socket_set_gid = true;
        return 0;
}

static int set_client_bytes(brigd_cmdline *c, const char *where, const char *arg) {
        uint64_t bytes;

        if (brig_parse_size(arg, &bytes) < 0 || (bytes && bytes < (1u << 20)))
                return usage_error(where, "expected 0 or a size from 1M, got '%s'", arg);
        c->o.max_client_bytes = bytes;
        return 0;
}

static int set_log_level(brigd_cmdline *c, const char *where, const char *arg) {
        static const char *const names[] = {"error", "warning", "info", "debug"};

        (void) c;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(arg, names[i]) == 0) {
                        brig_log_set_level((brig_log_level) i);
                        return 0;
                }
        return usage_error(where, "expected error, warning, info or debug, got '%s'", arg);
}

#define MEMBER(m) offsetof(brig_worker_options, m)

static const option_def options[] = {
        {"config", 0, "FILE", ARG_CUSTOM, .parse = set_config, .cmdline_only = true,
         .help = "configuration file: lines `option = value` (the options below without\n"
                 "their --) and # comments; flags override it, and a repeatable option\n"
                 "given as a flag replaces the file's list (default:\n" BRIG_SYSCONFDIR
                 "/brig/brigd.conf, which may be missing;\na FILE given here must exist)"},
        {"socket", 0, "PATH", ARG_STRING, MEMBER(socket_path),
         .help = "socket to listen on (default: /run/brig/brig.sock as root, else\n"
                 "$XDG_RUNTIME_DIR/brig/brig.sock, or /run/user/UID/brig/brig.sock when\n"
                 "XDG_RUNTIME_DIR is unset: where `brig` looks when given no socket;\n"
                 "brigd creates that directory, 0700, or 0755 when --socket-mode lets\n"
                 "group or others in)"},
        {"socket-mode", 0, "MODE", ARG_CUSTOM, .parse = set_socket_mode,
         .help = "octal permissions of the socket, e.g. 0660 (default 0600, 0660 with\n"
                 "--socket-group); the owner's rw are required. Connecting needs write\n"
                 "permission on it: this and --socket-group choose who may connect"},
        {"socket-group", 0, "GROUP", ARG_CUSTOM, .parse = set_socket_group,
         .help = "group (name or gid) of the socket. Mode and group are the socket's\n"
                 "from the moment its path exists (it is bound in a private directory\n"
                 "and renamed into place), so no chmod is needed and none can race"},
        {"policy", 0, "FILE", ARG_STRING, MEMBER(policy_path),
         .help = "default policy, for environments that name none\n"
                 "(default: default.json in the policy directory)"},
        {"policy-dir", 0, "DIR", ARG_STRING, MEMBER(policy_dir),
         .help = "policies clients may name with brig/policy (default: the directory of\n"
                 "--policy, else ./policies if it exists, else ../share/brig/policies from\n"
                 "brigd's directory, else " BRIG_POLICYDIR ")"},
        {"admin-uid", 0, "UID", ARG_CUSTOM, .parse = add_admin_uid, .reset = reset_admin_uids,
         .help = "a uid that may also name policy files by path (repeatable; root always may)"},
        {"audit", 0, "PATH", ARG_STRING, MEMBER(audit_path),
         .help = "audit log, hash-chained JSONL (default: brig.audit.jsonl beside the\n"
                 "socket given by --socket, else in the state directory); its checkpoint\n"
                 "is PATH.checkpoint (`brig audit verify`)"},
        {"audit-syslog", 0, "SOCKET", ARG_STRING, MEMBER(audit_syslog),
         .help = "also send each audit record to syslog, e.g. /dev/log (journald,\n"
                 "rsyslog): authpriv.info, tag brigd-audit, the record's JSON as the\n"
                 "message. Never waits: records the socket cannot take at once are\n"
                 "dropped from syslog (not from the log) and counted in brigd's log"},
        {"state-dir", 0, "DIR", ARG_STRING, MEMBER(state_dir),
         .help = "where workspaces live (default: /var/lib/brig as root,\n"
                 "$XDG_STATE_HOME/brig otherwise)"},
        {"jail-helper", 0, "P", ARG_STRING, MEMBER(jail_helper),
         .help = "path of brig-jail (default: beside brigd, else ../libexec/brig-jail from\n"
                 "brigd's directory, else " BRIG_LIBEXECDIR "/brig-jail)"},
        {"jail-id", 0, "ID", ARG_UNSIGNED, MEMBER(jail_id), 1, 0xfffffffeu,
         .help = "when brigd is root, environment n runs as host uid/gid ID+n (default: %llu)",
         .help_args = {BRIG_JAIL_HOST_ID_DEFAULT}},
        {"spare-environments", 0, "N", ARG_UNSIGNED, MEMBER(spares), 0, BRIG_SPARES_MAX,
         .help = "environments of the default policy kept built ahead, so that a new\n"
                 "environment starts without waiting for its jail; rebuilt in the background\n"
                 "as they are taken (0 to %llu, default %llu)",
         .help_args = {BRIG_SPARES_MAX, BRIG_SPARES_DEFAULT}},
        {"spare-environments-max", 0, "N", ARG_UNSIGNED, MEMBER(spares_max), 0, BRIG_SPARES_GROW_MAX,
         .help = "what the pool of spare environments may grow to: a burst that finds it\n"
                 "empty raises it to the number of environments the burst created, so the\n"
                 "next burst like it finds them built; halves back after 30 s without\n"
                 "running dry (0 to %llu, default %llu; never below --spare-environments)",
         .help_args = {BRIG_SPARES_GROW_MAX, BRIG_SPARES_GROW_DEFAULT}},
        {"start-timeout", 0, "S", ARG_UNSIGNED, MEMBER(start_timeout_s), 1, 3600, " seconds",
         .help = "an environment that is not running S seconds after its start began fails\n"
                 "to start, and its jail is killed (1 to 3600, default %llu)",
         .help_args = {BRIG_ENV_START_TIMEOUT_S}},
        {"resolve", 0, "NAME=ADDR", ARG_CUSTOM, .parse = add_resolve, .reset = reset_resolve,
         .help = "the network proxy of proxy-mode environments resolves NAME to the IPv4\n"
                 "or IPv6 address ADDR instead of asking DNS (repeatable; the policy's\n"
                 "allow rules and address checks still apply)"},
        {"upstream-ca", 0, "FILE", ARG_STRING, MEMBER(upstream_ca),
         .help = "PEM certificates the proxy also trusts when it connects upstream for a\n"
                 "host whose TLS it intercepts (network.secrets), besides the system's\n"
                 "trust store: a private CA, or a test server's. Unreadable: brigd\n"
                 "does not start"},
        {"max-calls", 0, "N", ARG_UNSIGNED, MEMBER(max_calls), 0, 65536,
         .help = "calls running commands at once in the worker (default: from the fd\n"
                 "limit, at most %llu); calls beyond wait in a queue",
         .help_args = {BRIG_MAX_CALLS_CAP}},
        {"max-calls-per-environment", 0, "N", ARG_UNSIGNED, MEMBER(max_calls_per_env), 0, 65536,
         .help = "calls running commands at once in one environment (default %llu)",
         .help_args = {BRIG_MAX_CALLS_PER_ENV_DEFAULT}},
        {"max-queued", 0, "N", ARG_UNSIGNED, MEMBER(max_queued), 0, 1u << 20,
         .help = "calls waiting for a slot; past it calls are refused at once with\n"
                 "JSON-RPC error -32001, data.reason \"busy\" and data.retry_after_ms\n"
                 "(default: 8 x --max-calls)"},
        {"max-connections-per-uid", 0, "N", ARG_UNSIGNED, MEMBER(max_conns_per_uid), 0, BRIG_MAX_CONNECTIONS,
         .help = "connections one uid may hold, 0 for no cap; root and --admin-uid\n"
                 "have none (default %llu; %llu in all, root and admins get %llu more)",
         .help_args = {BRIG_MAX_CONNECTIONS_PER_UID_DEFAULT, BRIG_MAX_CONNECTIONS, BRIG_ADMIN_CONNECTIONS}},
        {"handshake-timeout", 0, "MS", ARG_UNSIGNED, MEMBER(handshake_timeout_ms), 0, 86400000, " ms",
         .help = "a connection that has not sent initialize after MS milliseconds is\n"
                 "closed, 0 never (default %llu)",
         .help_args = {BRIG_HANDSHAKE_TIMEOUT_MS_DEFAULT}},
        {"max-client-bytes", 0, "SIZE", ARG_CUSTOM, .parse = set_client_bytes,
         .help = "bytes held for all clients together: replies not yet read and output\n"
                 "kept for running calls' results. Past it, the commands of the\n"
                 "connections holding more than an equal share are not read (they wait\n"
                 "on a full pipe) until their clients read; others go on (default: 1/16\n"
                 "of memory, %llu to %llu MiB; 0 for the default)",
         .help_args = {BRIG_CLIENT_BYTES_MIN_DEFAULT >> 20, BRIG_CLIENT_BYTES_MAX_DEFAULT >> 20}},
        {"client-stall-timeout", 0, "MS", ARG_UNSIGNED, MEMBER(stall_timeout_ms), 1, 86400000, " ms",
         .help = "a client whose replies wait (its output is paused, or the worker is\n"
                 "over --max-client-bytes) and that reads nothing for MS milliseconds\n"
                 "is disconnected and its calls cancelled (default %llu)",
         .help_args = {BRIG_WRITE_STALL_MS}},
        {"log-level", 0, "L", ARG_CUSTOM, .parse = set_log_level,
         .help = "error, warning, info or debug (default: info)"},
        {"help", 'h', NULL, ARG_NONE, .parse = set_help, .cmdline_only = true, .help = "show this help"},
        {"version", 0, NULL, ARG_NONE, .parse = set_version, .cmdline_only = true,
         .help = "show the version"},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))
#define FIRST_VAL 256 /* getopt's val of options[0]; above every short option's character */

static int apply(brigd_cmdline *c, const option_def *d, const char *where, const char *arg) {
        char *member = (char *) &c->o + d->offset;
        uint64_t v;

        switch (d->kind) {
        case ARG_STRING:
                *(const char **) (void *) member = arg;
                return 0;
        case ARG_UNSIGNED:
                if (brig_parse_u64(arg, &v) < 0 || v < d->min || v > d->max) {
                        fprintf(stderr, "brigd: %s: expected %llu to %llu%s, got '%s'\n", where,
                                (unsigned long long) d->min, (unsigned long long) d->max,
                                d->unit ? d->unit : "", arg);
                        return -EINVAL;
                }
                *(unsigned *) (void *) member = (unsigned) v;
                return 0;
        case ARG_NONE:
        case ARG_CUSTOM:
                return d->parse(c, where, arg);
        }
        return -EINVAL;
}

static char *trim(char *s) {
        char *end = s + strlen(s);

        while (isspace((unsigned char) *s))
                s++;
        while (end > s && isspace((unsigned char) end[-1]))
                *--end = 0;
        return s;
}

/* Reads path into c->config_text and applies each `key = value` line; values point into that text. */
static int load_config(brigd_cmdline *c, const char *path, bool required) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        size_t len = 0;
        unsigned line_no = 0;
        char where[512];

        if (!f) {
                if (errno == ENOENT && !required)
                        return 0;
                fprintf(stderr, "brigd: %s: %s\n", path, strerror(errno));
                return -errno;
        }
        FILE *text = open_memstream(&c->config_text, &len);
        if (!text)
                return -ENOMEM;
        for (int ch; (ch = getc(f)) != EOF;)
                (void) fputc(ch ? ch : '\n', text); /* a NUL would end a value early: a line of its own */
        if (ferror(f) || fclose(text) != 0) {
                fprintf(stderr, "brigd: %s: cannot read\n", path);
                return -EIO;
        }
        for (char *next = c->config_text, *line; next;) {
                line = next;
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                line_no++;
                line = trim(line);
                if (!*line || *line == '#')
                        continue;
                char *eq = strchr(line, '=');
                if (eq)
                        *eq = 0;
                const char *key = trim(line), *value = eq ? trim(eq + 1) : NULL;
                const option_def *d = NULL;
                for (size_t i = 0; !d && i < N_OPTIONS; i++)
                        if (strcmp(options[i].name, key) == 0 && !options[i].cmdline_only)
                                d = &options[i];
                (void) snprintf(where, sizeof(where), "%s:%u: %s", path, line_no, key);
                if (!d) {
                        fprintf(stderr,
                                "brigd: %s:%u: unknown key '%s' (the keys are brigd's options "
                                "without --, see brigd --help)\n",
                                path, line_no, key);
                        return -EINVAL;
                }
                if (!value || !*value) {
                        fprintf(stderr, "brigd: %s: expected `%s = VALUE`\n", where, key);
                        return -EINVAL;
                }
                if (apply(c, d, where, value) < 0)
                        return -EINVAL;
        }
        return 0;
}

int brigd_cmdline_parse(brigd_cmdline *c, int argc, char **argv, const char *default_config) {
        struct option longopts[N_OPTIONS + 1];
        char shortopts[2 * N_OPTIONS + 1];
        /* Each option takes at least one argument of argv. */
        _cleanup_free_ struct {
                const option_def *d;
                const char *arg;
        } *seen = calloc((size_t) argc, sizeof(*seen));
        bool reset[N_OPTIONS] = {0};
        size_t n_short = 0, n_seen = 0;
        char where[64];
        int v, r;

        *c = (brigd_cmdline){.o = {.jail_id = BRIG_JAIL_HOST_ID_DEFAULT,
                                   .spares = BRIG_SPARES_DEFAULT,
                                   .spares_max = BRIG_SPARES_GROW_DEFAULT,
                                   .start_timeout_s = BRIG_ENV_START_TIMEOUT_S,
                                   .max_conns_per_uid = BRIG_MAX_CONNECTIONS_PER_UID_DEFAULT,
                                   .handshake_timeout_ms = BRIG_HANDSHAKE_TIMEOUT_MS_DEFAULT}};
        if (!seen)
                return -ENOMEM;
        for (size_t i = 0; i < N_OPTIONS; i++) {
                longopts[i] = (struct option){options[i].name,
                                              options[i].metavar ? required_argument : no_argument, NULL,
                                              FIRST_VAL + (int) i};
                if (options[i].short_name) {
                        shortopts[n_short++] = options[i].short_name;
                        if (options[i].metavar)
                                shortopts[n_short++] = ':';
                }
        }
        longopts[N_OPTIONS] = (struct option){0};
        shortopts[n_short] = 0;

        /* The command line is read first and applied last: --config names the file, and flags override
         * what the file says. */
        optind = 1;
        while ((v = getopt_long(argc, argv, shortopts, longopts, NULL)) >= 0) {
                const option_def *d = NULL;
                if (v >= FIRST_VAL && v < FIRST_VAL + (int) N_OPTIONS)
                        d = &options[v - FIRST_VAL];
                for (size_t i = 0; !d && i < N_OPTIONS; i++)
                        if (options[i].short_name && options[i].short_name == v)
                                d = &options[i];
                if (!d) {
                        fprintf(stderr, "Try 'brigd --help'.\n");
                        return -EINVAL;
                }
                seen[n_seen++] = (typeof(*seen)){d, optarg};
                if (d->cmdline_only && apply(c, d, d->name, optarg) < 0)
                        return -EINVAL;
        }
        if (optind < argc) {
                fprintf(stderr, "brigd: unexpected argument '%s'\nTry 'brigd --help'.\n", argv[optind]);
                return -EINVAL;
        }
        /* --help and --version answer whatever the file says. */
        if (!c->help && !c->version && (c->config || default_config) &&
            (r = load_config(c, c->config ? c->config : default_config, c->config != NULL)) < 0)
                return r;
        for (size_t i = 0; i < n_seen; i++) {
                const option_def *d = seen[i].d;
                if (d->cmdline_only)
                        continue;
                if (d->reset && !reset[d - options]) {
                        d->reset(c);
                        reset[d - options] = true;
                }
                (void) snprintf(where, sizeof(where), "--%s", d->name);
                if (apply(c, d, where, seen[i].arg) < 0) {
                        fprintf(stderr, "Try 'brigd --help'.\n");
                        return -EINVAL;
                }
        }
        c->o.admin_uids = c->admin_uids;
        c->o.resolve = c->resolve;
        return 0;
}

void brigd_cmdline_done(brigd_cmdline *c) {
        free(c->config_text);
        c->config_text = NULL;
}

static void help_option(FILE *f, const option_def *d) {
        char head[64];
        int n = snprintf(head, sizeof(head), "  %s%s--%s%s%s", d->short_name ? "-" : "",
                         d->short_name ? (char[]){d->short_name, ',', ' ', 0} : "", d->name,
                         d->metavar ? " " : "", d->metavar ? d->metavar : "");
        char text[1024];

        (void) snprintf(text, sizeof(text), d->help, d->help_args[0], d->help_args[1], d->help_args[2]);
        if (n >= HELP_COLUMN)
                fprintf(f, "%s\n%*s", head, HELP_COLUMN, "");
        else
                fprintf(f, "%-*s", HELP_COLUMN, head);
        for (const char *line = text; line;) {
                const char *nl = strchr(line, '\n');
                fprintf(f, "%.*s\n", nl ? (int) (nl - line) : (int) strlen(line), line);
                line = nl ? nl + 1 : NULL;
                if (line)
                        fprintf(f, "%*s", HELP_COLUMN, "");
        }
}

void brigd_cmdline_help(FILE *f) {
        fputs("Usage: brigd [OPTIONS]\n"
              "\n"
              "The brig worker: serves MCP (JSON-RPC 2.0, one message per line) on a Unix socket and runs "
              "each\n"
              "tool call in a jail built from the policy (namespaces, seccomp, no capabilities, rlimits).\n"
              "\n"
              "Options:\n",
              f);
        for (size_t i = 0; i < N_OPTIONS; i++)
                help_option(f, &options[i]);
        fputs("\n"
              "At start brigd raises its soft fd limit to the hard one and closes every fd it inherited\n"
              "but stdin, stdout and stderr, and a socket passed by systemd's socket activation\n"
              "(LISTEN_FDS, brigd.socket): brigd then serves that socket instead of binding --socket, with\n"
              "the mode and group the socket unit gave it, and leaves it in place when it stops.\n"
              "Stop with Ctrl-C or SIGTERM: running calls are killed and the socket is removed (but an\n"
              "activated one).\n"
              "SIGHUP reloads the policy files: new environments get the new policies, running ones keep\n"
              "theirs until they stop; a reload that fails keeps every old policy and logs why.\n"
              "Docs: brigd(8), docs/protocol.md (wire protocol), docs/policy.md (policy format).\n",
              f);
}
