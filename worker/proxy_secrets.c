/* SPDX-License-Identifier: MIT */
/* The values of network.secrets and what the proxy does with them (worker/proxy_secrets.h). A value lives
 * in brigd's memory only, from its source to the request it is written into: never on disk, in a log, an
 * audit record or an error message (errors name the secret). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "sandbox/netpolicy.h"
#include "worker/proxy_secrets.h"

#define SECRET_MARK "{secret}"

static void wipe_free(char *p, size_t len) {
        if (p)
                explicit_bzero(p, len);
        free(p);
}

/* The placeholder keep has for a placeholder secret named name, or NULL. */
static const char *kept_placeholder(const brig_proxy_secrets *keep, const char *name) {
        for (size_t i = 0; keep && i < keep->n; i++)
                if (keep->items[i].placeholder[0] && strcmp(keep->items[i].name, name) == 0)
                        return keep->items[i].placeholder;
        return NULL;
}

int brig_proxy_secrets_new(const brig_net_policy *n, const brig_proxy_secrets *keep,
                           brig_proxy_secrets **ret, brig_error *err) {
        brig_proxy_secrets *s = calloc(1, sizeof(*s));
        size_t k = 0;

        if (!s || !(s->items = calloc(n->n_secrets + 1, sizeof(*s->items))) ||
            !(s->env = calloc(n->n_secrets + 1, sizeof(char *)))) {
                brig_proxy_secrets_free(s);
                return brig_error_oom(err);
        }
        s->n = n->n_secrets;
        s->net = n;
        for (size_t i = 0; i < s->n; i++) {
                brig_proxy_secret *it = &s->items[i];
                uint8_t rnd[32];
                it->def = &n->secrets[i];
                (void) snprintf(it->error, sizeof(it->error), "secret %s: not read yet", it->def->name);
                snprintf(it->name, sizeof(it->name), "%s", it->def->name);
                if (it->def->header)
                        continue;
                const char *old = kept_placeholder(keep, it->name);
                if (old)
                        memcpy(it->placeholder, old, sizeof(it->placeholder));
                else if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
                        brig_proxy_secrets_free(s);
                        return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "getrandom");
                }
                if (!old) {
                        char *p = it->placeholder +
                                  sprintf(it->placeholder, BRIG_NET_SECRET_PLACEHOLDER_PREFIX);
                        for (size_t b = 0; b < sizeof(rnd); b++)
                                p += sprintf(p, "%02x", rnd[b]);
                }
                if (asprintf(&s->env[k], "%s=%s", it->def->name, it->placeholder) < 0) {
                        s->env[k] = NULL;
                        brig_proxy_secrets_free(s);
                        return brig_error_oom(err);
                }
                k++;
        }
        *ret = s;
        return 0;
}

/* Reads a file source into buf: regular, brigd's own, private. */
static int read_file(const char *path, char *buf, size_t size, size_t *ret_len, const char **ret_why) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        struct stat st;
        size_t n = 0;

        if (fd < 0)
                return *ret_why = strerror(errno), -errno;
        if (fstat(fd, &st) < 0)
                return *ret_why = strerror(errno), -errno;
        if (!S_ISREG(st.st_mode))
                return *ret_why = "not a regular file", -EINVAL;
        if (st.st_uid != geteuid())
                return *ret_why = "not owned by brigd's user", -EPERM;
        if (st.st_mode & 077)
                return *ret_why = "readable or writable by group or others (want mode 0600 or less)", -EPERM;
        for (;;) {
                ssize_t r = read(fd, buf + n, size - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return *ret_why = strerror(errno), -errno;
                if (r == 0 || (n += (size_t) r) == size)
                        break;
        }
        *ret_len = n;
        return 0;
}

static void load_one(brig_proxy_secret *it) {
        const brig_net_secret *d = it->def;
        char *buf = malloc(BRIG_PROXY_SECRET_VALUE_MAX + 2);
        const char *why = NULL;
        size_t len = 0;

        wipe_free(it->value, it->value_len);
        it->value = NULL;
        it->value_len = 0;
        if (!buf) {
                why = "out of memory";
        } else if (d->source == BRIG_NET_SECRET_FILE) {
                if (read_file(d->source_ref, buf, BRIG_PROXY_SECRET_VALUE_MAX + 2, &len, &why) >= 0) {
                        /* One trailing newline, as editors and `echo` leave it. */
                        if (len > 0 && buf[len - 1] == '\n')
                                len--;
                        if (len > 0 && buf[len - 1] == '\r')
                                len--;
                }
        } else {
                const char *v = secure_getenv(d->source_ref);
                if (!v || !*v)
                        why = "brigd's environment variable is not set or empty";
                else if ((len = strlen(v)) <= BRIG_PROXY_SECRET_VALUE_MAX + 1)
                        memcpy(buf, v, len);
        }
        if (!why && len == 0)
                why = "empty";
        if (!why && len > BRIG_PROXY_SECRET_VALUE_MAX)
                why = "longer than 8192 bytes";
        for (size_t i = 0; !why && i < len; i++)
                if ((unsigned char) buf[i] < 0x20 ? buf[i] != '\t' : buf[i] == 0x7f)
                        why = "the value contains a control character";
        if (why) {
                wipe_free(buf, BRIG_PROXY_SECRET_VALUE_MAX + 2);
                (void) snprintf(it->error, sizeof(it->error), "secret %s: cannot read %s %s: %s", d->name,
                                d->source == BRIG_NET_SECRET_FILE ? "file" : "variable", d->source_ref, why);
                return;
        }
        buf[len] = 0;
        it->value = buf;
        it->value_len = len;
        it->error[0] = 0;
}

void brig_proxy_secrets_load(brig_proxy_secrets *s) {
        for (size_t i = 0; s && i < s->n; i++)
                load_one(&s->items[i]);
}

int brig_proxy_secrets_check(const brig_proxy_secrets *s, brig_error *err) {
        for (size_t i = 0; s && i < s->n; i++)
                if (!s->items[i].value)
                        return brig_error_set(err, -ENOKEY, BRIG_KIND_POLICY, "network.secrets: %s",
                                              s->items[i].error);
        return 0;
}

void brig_proxy_secrets_free(brig_proxy_secrets *s) {
        if (!s)
                return;
        for (size_t i = 0; s->items && i < s->n; i++)
                wipe_free(s->items[i].value, BRIG_PROXY_SECRET_VALUE_MAX + 2);
        free(s->items);
        brig_strv_free(s->env);
        free(s);
}

int brig_proxy_secrets_scan(const brig_proxy_secrets *s, const char *host, const char *head, size_t head_len,
                            size_t *ret_secret) {
        for (size_t i = 0; s && i < s->n; i++) {
                const brig_proxy_secret *it = &s->items[i];
                if (it->placeholder[0] && !brig_net_secret_covers(it->def, host) &&
                    memmem(head, head_len, it->placeholder, BRIG_PROXY_SECRET_PLACEHOLDER_LEN)) {
                        *ret_secret = i;
                        return -EACCES;
                }
        }
        return 0;
}

int brig_proxy_secrets_for_host(const brig_proxy_secrets *s, const char *host, size_t *ret_secret) {
        for (size_t i = 0; s && i < s->n; i++)
                if (brig_net_secret_covers(s->items[i].def, host)) {
                        *ret_secret = i;
                        return 0;
                }
        return -ENOENT;
}

/* A growing output buffer; wiped when it moves, as it may hold values. */
typedef struct out {
        char *p;
        size_t len, size;
        bool oom;
} out;

static void put(out *o, const char *data, size_t len) {
        if (o->oom)
                return;
        if (o->len + len + 1 > o->size) {
                size_t size = (o->len + len + 1) * 2;
                char *p = malloc(size);
                if (!p) {
                        o->oom = true;
                        return;
                }
                if (o->p)
                        memcpy(p, o->p, o->len);
                wipe_free(o->p, o->size);
                o->p = p;
                o->size = size;
        }
        memcpy(o->p + o->len, data, len);
        o->len += len;
        o->p[o->len] = 0;
}

/* The length of the header name of a template ("Name: ..."). */
static size_t template_name_len(const char *t) {
        return strcspn(t, ":");
}

/* One header line with every placeholder of host's secrets replaced. */
static void put_line(out *o, const brig_proxy_secrets *s, const char *host, const char *l, size_t len,
                     uint64_t *used) {
        while (len > 0) {
                const brig_proxy_secret *first = NULL;
                const char *at = NULL;
                size_t fi = 0;
                for (size_t i = 0; i < s->n; i++) {
                        const brig_proxy_secret *it = &s->items[i];
                        const char *m;
                        if (!it->placeholder[0] || !brig_net_secret_covers(it->def, host) ||
                            !(m = memmem(l, len, it->placeholder, BRIG_PROXY_SECRET_PLACEHOLDER_LEN)))
                                continue;
                        if (!at || m < at) {
                                at = m;
                                first = it;
                                fi = i;
                        }
                }
                if (!at) {
                        put(o, l, len);
                        return;
                }
                put(o, l, (size_t) (at - l));
                put(o, first->value, first->value_len);
                *used |= UINT64_C(1) << fi;
                len -= (size_t) (at - l) + BRIG_PROXY_SECRET_PLACEHOLDER_LEN;
                l = at + BRIG_PROXY_SECRET_PLACEHOLDER_LEN;
        }
}

int brig_proxy_secrets_rewrite(const brig_proxy_secrets *s, const char *host, const char *head,
                               size_t head_len, const char *lines, size_t lines_len,
                               brig_proxy_rewrite *ret) {
        out o = {0};
        uint64_t used = 0;
        size_t bad;

        *ret = (brig_proxy_rewrite){0};
        if (brig_proxy_secrets_scan(s, host, head, head_len, &bad) < 0) {
                ret->secret = bad;
                return -EACCES;
        }
        /* Every secret this request needs must have its value: nothing goes out without it. */
        for (size_t i = 0; s && i < s->n; i++) {
                const brig_proxy_secret *it = &s->items[i];
                if (!it->value && brig_net_secret_covers(it->def, host) &&
                    (it->def->header ||
                     memmem(lines, lines_len, it->placeholder, BRIG_PROXY_SECRET_PLACEHOLDER_LEN))) {
                        ret->secret = i;
                        return -ENOKEY;
                }
        }
        for (const char *l = lines, *end = lines + lines_len; l < end;) {
                const char *e = memchr(l, '\n', (size_t) (end - l));
                size_t len = e ? (size_t) (e - l) + 1 : (size_t) (end - l);
                bool replaced = false;
                for (size_t i = 0; s && i < s->n && !replaced; i++) {
                        const brig_net_secret *d = s->items[i].def;
                        size_t nl = d->header ? template_name_len(d->header) : 0;
                        replaced = d->header && brig_net_secret_covers(d, host) && len > nl &&
                                   l[nl] == ':' && strncasecmp(l, d->header, nl) == 0;
                }
                if (!replaced && s)
                        put_line(&o, s, host, l, len, &used);
                else if (!replaced)
                        put(&o, l, len);
                l += len;
        }
        for (size_t i = 0; s && i < s->n; i++) {
                const brig_proxy_secret *it = &s->items[i];
                const char *t = it->def->header, *mark;
                if (!t || !brig_net_secret_covers(it->def, host))
                        continue;
                mark = strstr(t, SECRET_MARK);
                put(&o, t, (size_t) (mark - t));
                put(&o, it->value, it->value_len);
                put(&o, mark + strlen(SECRET_MARK), strlen(mark + strlen(SECRET_MARK)));
                put(&o, "\r\n", 2);
                used |= UINT64_C(1) << i;
        }
        if (o.oom || !o.p) {
                bool oom = o.oom;
                wipe_free(o.p, o.size);
                if (oom)
                        return -ENOMEM;
                o.p = strdup("");
                if (!o.p)
                        return -ENOMEM;
                o.size = 1;
        }
        ret->headers = o.p;
        ret->len = o.len;
        ret->used = used;
        return 0;
}
