/* SPDX-License-Identifier: MIT */
/* The TLS interception building blocks of worker/proxy_tls.h: a per-environment CA whose key stays in
 * memory, the CA bundle for the jail, leaf certificates minted and cached per host, and the verifying
 * upstream client context. All crypto is OpenSSL's (EVP, X509); nothing here is hand-rolled. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "sandbox/netpolicy.h"
#include "worker/proxy_tls.h"

#define BUNDLE_MAX (16u << 20)

typedef struct leaf {
        char *host; /* NULL: free slot */
        SSL_CTX *ctx;
        time_t not_after;
        uint64_t used; /* ca->clock when last returned: the least recently used is dropped first */
} leaf;

struct brig_tls_ca {
        EVP_PKEY *key;
        X509 *cert;
        brig_net_rule *permitted; /* NULL: any host */
        size_t n_permitted;
        leaf leaves[BRIG_TLS_LEAF_CACHE_MAX];
        uint64_t clock;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAME *, GENERAL_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_IA5STRING *, ASN1_IA5STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(SSL_CTX *, SSL_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(NAME_CONSTRAINTS *, NAME_CONSTRAINTS_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_SUBTREE *, GENERAL_SUBTREE_free);

int brig__tls_error(brig_error *err, int code, const char *what) {
        char reason[160] = "unknown reason";
        unsigned long e = ERR_peek_last_error();

        if (e != 0)
                ERR_error_string_n(e, reason, sizeof(reason));
        ERR_clear_error();
        if (e != 0 && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
                return brig_error_oom(err);
        return brig_error_set(err, code, BRIG_KIND_INTERNAL, "%s: %s", what, reason);
}

static EVP_PKEY *ec_key_new(void) {
        /* P-256: what every TLS client supports, and a signature is cheap enough for the loop thread. */
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* A random positive 127-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, positive; CA/B forum: ≥ 64 random
 * bits). */
static int set_random_serial(X509 *x) {
        unsigned char bytes[16];
        _cleanup_(BN_freep) BIGNUM *bn = NULL;

        if (RAND_bytes(bytes, sizeof(bytes)) != 1)
                return -EIO;
        bytes[0] &= 0x7f;
        bytes[0] |= 0x01; /* never zero, never shorter than expected */
        bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
        if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
                return -EIO;
        return 0;
}

/* Valid from an hour ago (the jail's clock and brigd's are the same kernel's, but a client may round) to
 * days from now. */
static int set_validity(X509 *x, long days) {
        if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
            !X509_time_adj_ex(X509_getm_notAfter(x), (int) days, 0, NULL))
                return -EIO;
        return 0;
}

/* Adds one extension in OpenSSL's configuration syntax (value is one of our constants, never input). */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
        X509V3_CTX v3;
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;

        X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
        if (!ext || !X509_add_ext(x, ext, -1))
                return -EIO;
        return 0;
}

/* Appends a subtree for one name to *stack (made on first use): an IA5 string of type GEN_DNS, or an address
 * and mask (RFC 5280 §4.2.1.10: 8 or 32 octets) of type GEN_IPADD. */
static int subtree_add(STACK_OF(GENERAL_SUBTREE) * *stack, int type, const void *data, int len) {
        _cleanup_(GENERAL_SUBTREE_freep) GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
        ASN1_STRING *value = type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();

        /* GENERAL_SUBTREE_new() makes base (a required field) too. */
        if (!st || !st->base || !value || !ASN1_STRING_set(value, data, len)) {
                ASN1_STRING_free(value);
                return -ENOMEM;
        }
        GENERAL_NAME_set0_value(st->base, type, value);
        if (!*stack && !(*stack = sk_GENERAL_SUBTREE_new_null()))
                return -ENOMEM;
        if (!sk_GENERAL_SUBTREE_push(*stack, st))
                return -ENOMEM;
        TAKE_PTR(st);
        return 0;
}

static int subtree_add_ip(STACK_OF(GENERAL_SUBTREE) * *stack, const uint8_t *addr, size_t len, bool host) {
        uint8_t both[32];

        /* host: exactly that address (an all-ones mask); else the whole family (all zeros). */
        memcpy(both, addr, len);
        memset(both + len, host ? 0xff : 0, len);
        return subtree_add(stack, GEN_IPADD, both, (int) (2 * len));
}

/* A critical nameConstraints extension limiting the CA to the policy's hosts, so a jail that trusts it
 * trusts it for those hosts only, whatever brigd were made to sign. A "*.suffix" rule becomes the DNS
 * subtree "suffix", which RFC 5280 also matches for suffix itself: that apex is refused by brig_tls_leaf()
 * instead. A family of names none of the rules has (names, IPv4, IPv6) is excluded entirely, as a permitted
 * subtree only constrains its own type. */
static int add_name_constraints(X509 *x, const brig_net_rule *rules, size_t n) {
        _cleanup_(NAME_CONSTRAINTS_freep) NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
        static const uint8_t any[16] = {0};
        bool names = false, v4 = false, v6 = false;
        int r = 0;

        if (!nc)
                return -ENOMEM;
        for (size_t i = 0; i < n && r == 0; i++)
                switch (rules[i].kind) {
                case BRIG_NET_NAME:
                case BRIG_NET_WILDCARD:
                        names = true;
                        r = subtree_add(&nc->permittedSubtrees, GEN_DNS, rules[i].host,
                                        (int) strlen(rules[i].host));
                        break;
                case BRIG_NET_IPV4:
                        v4 = true;
                        r = subtree_add_ip(&nc->permittedSubtrees, rules[i].addr, 4, true);
                        break;
                case BRIG_NET_IPV6:
                        v6 = true;
                        r = subtree_add_ip(&nc->permittedSubtrees, rules[i].addr, 16, true);
                        break;
                case _BRIG_NET_HOST_KIND_MAX:
                case _BRIG_NET_HOST_KIND_INVALID:
                        r = -EINVAL;
                        break;
                }
        /* An empty DNS subtree matches every name. */
        if (r == 0 && !names)
                r = subtree_add(&nc->excludedSubtrees, GEN_DNS, "", 0);
        if (r == 0 && !v4)
                r = subtree_add_ip(&nc->excludedSubtrees, any, 4, false);
        if (r == 0 && !v6)
                r = subtree_add_ip(&nc->excludedSubtrees, any, 16, false);
        if (r < 0)
                return r;
        if (!X509_add1_ext_i2d(x, NID_name_constraints, nc, 1, X509V3_ADD_DEFAULT))
                return -EIO;
        return 0;
}

/* The CA's name constraints, as the proxy's rules match hosts (brig_net_rule_matches()). */
static bool host_permitted(const brig_tls_ca *ca, const char *host) {
        if (!ca->permitted)
                return true;
        for (size_t i = 0; i < ca->n_permitted; i++)
                if (brig_net_rule_matches(&ca->permitted[i], host))
                        return true;
        return false;
}

int brig_tls_ca_new(const char *env_id, const brig_net_rule *permitted, size_t n_permitted,
                    brig_tls_ca **ret, brig_error *err) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *ca = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        char cn[65];
        X509_NAME *name;
        size_t n;

        assert(env_id && ret);
        n = strlen(env_id);
        if (n == 0 || n > 64)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "bad environment id for a CA");
        /* A commonName holds at most 64 characters (RFC 5280 ub-common-name): the id always goes in OU, and
         * in the CN when it fits. */
        if (snprintf(cn, sizeof(cn), "brig environment %s CA", env_id) >= (int) sizeof(cn))
                snprintf(cn, sizeof(cn), "brig environment CA");

        if (permitted && (n_permitted == 0 || n_permitted > BRIG_TLS_CA_HOSTS_MAX))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "a CA names 1 to %d hosts, got %zu", BRIG_TLS_CA_HOSTS_MAX,
                                      n_permitted);

        ca = calloc(1, sizeof(*ca));
        if (!ca)
                return brig_error_oom(err);
        if (permitted) {
                ca->permitted = calloc(n_permitted, sizeof(*permitted));
                if (!ca->permitted)
                        return brig_error_oom(err);
                memcpy(ca->permitted, permitted, n_permitted * sizeof(*permitted));
                ca->n_permitted = n_permitted;
        }
        key = ec_key_new();
        x = X509_new();
        if (!key || !x)
                return brig__tls_error(err, -EIO, "CA key");
        name = X509_get_subject_name(x);
        if (!X509_set_version(x, X509_VERSION_3) || set_random_serial(x) < 0 ||
            set_validity(x, BRIG_TLS_CA_DAYS) < 0 ||
            !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *) "brig", -1, -1,
                                        0) ||
            !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (const unsigned char *) env_id, -1, -1,
                                        0) ||
            !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) ||
            !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key))
                return brig__tls_error(err, -EIO, "CA certificate");
        /* pathlen:0: the CA signs leaves only, never another CA. */
        if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
            add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
            add_ext(x, x, NID_subject_key_identifier, "hash") < 0 ||
            (permitted && add_name_constraints(x, permitted, n_permitted) < 0))
                return brig__tls_error(err, -EIO, "CA extensions");
        if (X509_sign(x, key, EVP_sha256()) <= 0)
                return brig__tls_error(err, -EIO, "CA signature");

        ca->key = TAKE_PTR(key);
        ca->cert = TAKE_PTR(x);
        *ret = TAKE_PTR(ca);
        return 0;
}

static void leaf_done(leaf *l) {
        free(l->host);
        SSL_CTX_free(l->ctx);
        *l = (leaf){0};
}

void brig_tls_ca_free(brig_tls_ca *ca) {
        if (!ca)
                return;
        for (size_t i = 0; i < ELEMENTSOF(ca->leaves); i++)
                leaf_done(&ca->leaves[i]);
        EVP_PKEY_free(ca->key);
        X509_free(ca->cert);
        free(ca->permitted);
        free(ca);
}

X509 *brig_tls_ca_cert(const brig_tls_ca *ca) {
        return ca->cert;
}

int brig_tls_ca_pem(const brig_tls_ca *ca, char **ret) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
        char *data, *pem;
        long n;

        if (!bio || !PEM_write_bio_X509(bio, ca->cert)) {
                ERR_clear_error();
                return -ENOMEM;
        }
        n = BIO_get_mem_data(bio, &data);
        pem = n >= 0 ? strndup(data, (size_t) n) : NULL;
        if (!pem)
                return -ENOMEM;
        *ret = pem;
        return 0;
}

static int read_bundle(const char *path, char **ret, size_t *ret_len, brig_error *err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        if (fd < 0 || fstat(fd, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "system CA bundle '%s'", path);
        if (!S_ISREG(st.st_mode))
                return brig_error_set(err, -EINVAL, BRIG_KIND_IO, "system CA bundle '%s' is not a file",
                                      path);
        if (st.st_size > BUNDLE_MAX)
                return brig_error_set(err, -EFBIG, BRIG_KIND_LIMIT, "system CA bundle '%s' exceeds %u bytes",
                                      path, BUNDLE_MAX);
        /* One spare byte, to see a file that grew since fstat() (it is refused, not cut). */
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return brig_error_oom(err);
        for (;;) {
                ssize_t k = read(fd, buf + len, (size_t) st.st_size + 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "read '%s'", path);
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len > (size_t) st.st_size)
                        return brig_error_set(err, -EAGAIN, BRIG_KIND_IO, "system CA bundle '%s' changed",
                                              path);
        }
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int brig_tls_bundle_write(int dirfd, const char *name, const brig_tls_ca *ca, const char *system_bundle,
                          brig_error *err) {
        _cleanup_free_ char *sys = NULL, *pem = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        size_t sys_len = 0;
        int r;

        assert(name && ca);
        r = read_bundle(system_bundle ? system_bundle : BRIG_TLS_SYSTEM_BUNDLE, &sys, &sys_len, err);
        if (r < 0)
                return r;
        if (brig_tls_ca_pem(ca, &pem) < 0 || asprintf(&tmp, ".%s.tmp", name) < 0)
                return brig_error_oom(err);
        (void) unlinkat(dirfd, tmp, 0);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "create '%s'", tmp);
        /* fchmod: the jail's user reads it whatever brigd's umask. */
        r = fchmod(fd, 0644) < 0 ? -errno : 0;
        if (r == 0)
                r = brig_write_all(fd, sys, sys_len);
        if (r == 0 && sys_len > 0 && sys[sys_len - 1] != '\n')
                r = brig_write_all(fd, "\n", 1);
        if (r == 0)
                r = brig_write_all(fd, pem, strlen(pem));
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "write CA bundle '%s'", name);
        }
        return 0;
}

/* host as the proxy's policy reads it (brig_net_host_normalize(): lower case, no trailing dot, IPv6 in
 * canonical form), and whether it is an address. */
static int host_normalize(const char *host, char out[static BRIG_NET_HOST_MAX + 1], bool *ret_ip) {
        unsigned char addr[sizeof(struct in6_addr)];

        if (!host || !brig_net_host_normalize(host, out, BRIG_NET_HOST_MAX + 1))
                return -EINVAL;
        *ret_ip = inet_pton(AF_INET, out, addr) == 1 || inet_pton(AF_INET6, out, addr) == 1;
        return 0;
}

static int add_san(X509 *x, const char *host, bool ip) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = GENERAL_NAMES_new();
        _cleanup_(GENERAL_NAME_freep) GENERAL_NAME *gn = NULL;

        if (!names)
                return -ENOMEM;
        if (ip) {
                /* a2i_IPADDRESS parses IPv4 and IPv6 into the SAN's octet string. */
                _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *oct = a2i_IPADDRESS(host);
                if (!oct || !(gn = GENERAL_NAME_new()))
                        return -EIO;
                GENERAL_NAME_set0_value(gn, GEN_IPADD, TAKE_PTR(oct));
        } else {
                _cleanup_(ASN1_IA5STRING_freep) ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
                if (!dns || !ASN1_STRING_set(dns, host, -1) || !(gn = GENERAL_NAME_new()))
                        return -EIO;
                GENERAL_NAME_set0_value(gn, GEN_DNS, TAKE_PTR(dns));
        }
        if (!sk_GENERAL_NAME_push(names, gn))
                return -ENOMEM;
        TAKE_PTR(gn);
        /* Critical: the leaf's subject is empty for names too long for a CN, and then SAN is all it says. */
        if (!X509_add1_ext_i2d(x, NID_subject_alt_name, names, 1, X509V3_ADD_DEFAULT))
                return -EIO;
        return 0;
}

static int leaf_mint(brig_tls_ca *ca, const char *host, bool ip, SSL_CTX **ret, time_t *ret_not_after,
                     brig_error *err) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = ec_key_new();
        _cleanup_(X509_freep) X509 *x = X509_new();
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
        X509_NAME *name;

        if (!key || !x)
                return brig__tls_error(err, -EIO, "leaf key");
        name = X509_get_subject_name(x);
        if (!X509_set_version(x, X509_VERSION_3) || set_random_serial(x) < 0 ||
            set_validity(x, BRIG_TLS_LEAF_DAYS) < 0 ||
            !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) || !X509_set_pubkey(x, key))
                return brig__tls_error(err, -EIO, "leaf certificate");
        /* A CN for names that fit one (RFC 5280 ub-common-name), for humans; none for an address, which
         * clients that fall back to the CN when no DNS SAN exists would take for a name. */
        if (!ip && strlen(host) <= 64 &&
            !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) host, -1, -1, 0))
                return brig__tls_error(err, -EIO, "leaf subject");
        if (add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature") < 0 ||
            add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth") < 0 ||
            add_ext(x, ca->cert, NID_subject_key_identifier, "hash") < 0 ||
            add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") < 0 ||
            add_san(x, host, ip) < 0)
                return brig__tls_error(err, -EIO, "leaf extensions");
        if (X509_sign(x, ca->key, EVP_sha256()) <= 0)
                return brig__tls_error(err, -EIO, "leaf signature");

        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
            !SSL_CTX_use_certificate(ctx, x) || !SSL_CTX_use_PrivateKey(ctx, key) ||
            !SSL_CTX_check_private_key(ctx))
                return brig__tls_error(err, -EIO, "leaf server context");
        *ret_not_after = time(NULL) + (time_t) BRIG_TLS_LEAF_DAYS * 86400;
        *ret = TAKE_PTR(ctx);
        return 0;
}

size_t brig_tls_leaf_cached(const brig_tls_ca *ca) {
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(ca->leaves); i++)
                n += ca->leaves[i].host != NULL;
        return n;
}

int brig_tls_leaf(brig_tls_ca *ca, const char *host, SSL_CTX **ret_server_ctx, brig_error *err) {
        char norm[BRIG_NET_HOST_MAX + 1];
        leaf *slot = NULL;
        bool ip;
        int r;

        assert(ca && ret_server_ctx);
        if (host_normalize(host, norm, &ip) < 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "bad host name for a certificate");
        if (!host_permitted(ca, norm))
                return brig_error_set(err, -EPERM, BRIG_KIND_DENIED, "'%s' is not among the hosts of the CA",
                                      norm);

        for (size_t i = 0; i < ELEMENTSOF(ca->leaves); i++) {
                leaf *l = &ca->leaves[i];
                if (l->host && strcmp(l->host, norm) == 0) {
                        slot = l;
                        break;
                }
                /* Else a free slot, or the least recently used one. */
                if (!slot || (slot->host && (!l->host || l->used < slot->used)))
                        slot = l;
        }
        if (!slot->host || strcmp(slot->host, norm) != 0 ||
            slot->not_after - time(NULL) < (time_t) BRIG_TLS_LEAF_RENEW_HOURS * 3600) {
                _cleanup_free_ char *copy = strdup(norm);
                SSL_CTX *ctx = NULL;
                time_t not_after = 0;

                if (!copy)
                        return brig_error_oom(err);
                r = leaf_mint(ca, norm, ip, &ctx, &not_after, err);
                if (r < 0)
                        return r;
                leaf_done(slot);
                *slot = (leaf){.host = TAKE_PTR(copy), .ctx = ctx, .not_after = not_after};
        }
        if (!SSL_CTX_up_ref(slot->ctx))
                return brig__tls_error(err, -EIO, "leaf reference");
        slot->used = ++ca->clock;
        *ret_server_ctx = slot->ctx;
        return 0;
}

int brig_tls_client_ctx(const char *extra_ca_file, SSL_CTX **ret, brig_error *err) {
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

        if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
                return brig__tls_error(err, -EIO, "upstream TLS context");
        /* The jail's own client would verify the peer against the system roots: the proxy never does less.
         */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (!SSL_CTX_set_default_verify_paths(ctx))
                return brig__tls_error(err, -EIO, "system trust store");
        if (extra_ca_file) {
                if (access(extra_ca_file, R_OK) < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "upstream CA file '%s'",
                                                    extra_ca_file);
                if (!SSL_CTX_load_verify_locations(ctx, extra_ca_file, NULL))
                        return brig__tls_error(err, -EIO, "upstream CA file");
        }
        *ret = TAKE_PTR(ctx);
        return 0;
}

int brig_tls_client_set_host(SSL *ssl, const char *host, brig_error *err) {
        char norm[BRIG_NET_HOST_MAX + 1];
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        bool ip;

        if (host_normalize(host, norm, &ip) < 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "bad upstream host name");
        if (ip) {
                if (!X509_VERIFY_PARAM_set1_ip_asc(param, norm))
                        return brig__tls_error(err, -EIO, "upstream address check");
                return 0;
        }
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!SSL_set_tlsext_host_name(ssl, norm) || !SSL_set1_host(ssl, norm))
                return brig__tls_error(err, -EIO, "upstream host name check");
        return 0;
}
