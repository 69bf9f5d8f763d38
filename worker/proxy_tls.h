/* SPDX-License-Identifier: MIT */
#pragma once

/* TLS interception building blocks for the egress proxy (issue 14: secrets brokered by the proxy), with
 * OpenSSL 3. The CA and the jail's bundle are made per environment by worker/proxy_ca.h; worker/proxy.c
 * intercepts with them.
 *
 * Theory of operation:
 * - Each environment whose policy names secrets gets its own certificate authority, brig_tls_ca_new(): an EC
 *   P-256 key and a self-signed CA certificate (CA:TRUE, pathlen:0, keyCertSign|cRLSign), valid from an hour
 *   ago (clock skew between brigd and the jail's view) for BRIG_TLS_CA_DAYS. The private key exists only in
 *   brigd's memory: never written to a file, never passed to the jail. A restarted brigd makes a new CA and
 *   rewrites the bundle.
 * - brig_tls_bundle_write() writes a CA bundle (the system roots followed by the CA) into the environment's
 *   directory, and the jail's environment points SSL_CERT_FILE (OpenSSL, curl, Python ssl),
 * REQUESTS_CA_BUNDLE (Python requests), NODE_EXTRA_CA_CERTS (Node, which adds it to its own roots) and
 * GIT_SSL_CAINFO (git) at it, read-only. Hosts other than the secrets' keep the opaque CONNECT tunnel, and
 * the system roots in the bundle keep verifying them as before.
 * - For a CONNECT to a secret's host the proxy answers the jail's handshake with brig_tls_leaf()'s server
 *   context (a certificate for exactly that host, signed by the CA), and opens its own connection upstream
 *   with brig_tls_client_ctx() and brig_tls_client_set_host(): the system trust store, the peer verified,
 *   the host name checked — never weaker than the jail itself would have been.
 *
 * Data path (brig_tls_conn below, used by worker/proxy.c): the proxy runs on brigd's libuv loop, so an
 * intercepted connection uses memory BIOs (SSL_set_bio with a BIO_s_mem pair per side) driven by the uv
 * reads and writes the proxy already does: the loop never blocks (SSL_read/SSL_write on memory BIOs only
 * return WANT_READ), no thread per connection is needed (the daemon's threads are reserved for blocking
 * work, STYLE §5), the per connection cost is two SSL objects and their buffers, and the proxy's byte limits
 * and audit stay in one place. The CPU cost on the loop is a handshake (an ECDHE and an ECDSA signature:
 * well under a millisecond for P-256) and symmetric crypto; the leaf cache keeps key generation off the
 * common path.
 *
 * Everything here runs on one thread at a time (the loop thread in brigd): a brig_tls_ca and its cache are
 * not locked. Nothing logs; failures carry OpenSSL's reason in err. */

#include <sys/types.h>

#include <openssl/ssl.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "sandbox/netpolicy.h"

/* The CA's lifetime. Environments are long-lived, but brigd holds the key only in memory, so a CA never
 * outlives the brigd that made it by much: a year covers any brigd's uptime in practice. */
#define BRIG_TLS_CA_DAYS 365
/* Leaf certificates are minted on demand and cached; a short lifetime limits what a leaked leaf (its key
 * also lives only in brigd) could be used for. A cached leaf within BRIG_TLS_LEAF_RENEW_HOURS of its end is
 * minted again. */
#define BRIG_TLS_LEAF_DAYS 7
#define BRIG_TLS_LEAF_RENEW_HOURS 24
/* Leaves cached per CA: the policy's secret hosts are few, so 64 holds them all; past it the least recently
 * used leaf is dropped (and minted again when its host comes back), so memory stays bounded whatever names
 * the jail asks for. */
#define BRIG_TLS_LEAF_CACHE_MAX 64

typedef struct brig_tls_ca brig_tls_ca;

/* Makes a new CA for environment env_id (at most 64 characters: named in the certificate's subject, "CN=brig
 * environment <id> CA"). permitted (n_permitted rules, 1 to BRIG_TLS_CA_HOSTS_MAX, copied; ports ignored)
 * are the hosts the CA may vouch for, the secrets' hosts: the certificate carries them as critical name
 * constraints (RFC 5280 §4.2.1.10; a "*.suffix" rule as the subtree "suffix", families without a rule
 * excluded), so even the jail's TLS client trusts the CA for those hosts only, and brig_tls_leaf() refuses
 * any other host. permitted NULL makes an unconstrained CA (tests; an upstream test server's CA). *ret is
 * owned by the caller (brig_tls_ca_free()). -EINVAL for a bad env_id or host count, -ENOMEM, -EIO when
 * OpenSSL fails (its reason in err). */
#define BRIG_TLS_CA_HOSTS_MAX 256
int brig_tls_ca_new(const char *env_id, const brig_net_rule *permitted, size_t n_permitted,
                    brig_tls_ca **ret, brig_error *err);
/* Frees the CA, its key and its leaf cache; contexts handed out by brig_tls_leaf() stay valid (each holds
 * its own reference). Accepts NULL. */
void brig_tls_ca_free(brig_tls_ca *ca);
DEFINE_TRIVIAL_CLEANUP_FUNC(brig_tls_ca *, brig_tls_ca_free);

/* The CA certificate (PEM, NUL-terminated) in *ret, which the caller frees with free(). 0 or -ENOMEM. */
int brig_tls_ca_pem(const brig_tls_ca *ca, char **ret);

/* The CA certificate itself, borrowed from ca (for tests and for a trust store the caller builds). */
X509 *brig_tls_ca_cert(const brig_tls_ca *ca);

/* Writes the file name in dirfd: the bytes of system_bundle (NULL: BRIG_TLS_SYSTEM_BUNDLE; a newline added
 * if it lacks a final one) followed by ca's PEM, mode 0644, atomically (a temporary file in dirfd, fsynced,
 * then renamed over name), so a jail reading it sees the old or the new bundle. A system bundle that cannot
 * be read fails (-errno): the jail's other HTTPS would break with a bundle that holds only brig's CA.
 * Bundles larger than 16 MiB are refused (-EFBIG). Blocking: call from a work thread or at start-up. */
#define BRIG_TLS_SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
int brig_tls_bundle_write(int dirfd, const char *name, const brig_tls_ca *ca, const char *system_bundle,
                          brig_error *err);

/* A server context (TLS 1.2 or newer) presenting a certificate for host signed by ca: subjectAltName
 * DNS:host, or IP:host when host is an IPv4 or IPv6 address; extendedKeyUsage serverAuth; valid from an hour
 * ago for BRIG_TLS_LEAF_DAYS. host is a DNS name or an IP address as brig_net_host_normalize() takes them
 * (names compared case-insensitively), and one of ca's permitted hosts (-EPERM otherwise). The context is
 * cached in ca per host (BRIG_TLS_LEAF_CACHE_MAX, least recently used dropped), so the same host gets the
 * same context until it is dropped or renewed. *ret holds a new reference that the caller releases with
 * SSL_CTX_free(). -EINVAL for a bad host, -EPERM, -ENOMEM, -EIO. */
int brig_tls_leaf(brig_tls_ca *ca, const char *host, SSL_CTX **ret_server_ctx, brig_error *err);

/* Number of leaves ca currently caches (for tests and diagnostics). */
size_t brig_tls_leaf_cached(const brig_tls_ca *ca);

/* A client context for the proxy's upstream connections: TLS 1.2 or newer, the peer's certificate verified
 * (SSL_VERIFY_PEER) against the system's default trust store, plus the certificates in extra_ca_file when it
 * is not NULL (brigd's option for tests and private CAs). Each SSL made from it must get
 * brig_tls_client_set_host() before its handshake. *ret owned by the caller (SSL_CTX_free()). -ENOENT or
 * -EIO when extra_ca_file cannot be loaded, -ENOMEM. */
int brig_tls_client_ctx(const char *extra_ca_file, SSL_CTX **ret, brig_error *err);

/* Makes ssl verify that the peer is host: SNI and a DNS-name check (no partial wildcards, as curl) for a
 * name, an IP-address check (and no SNI, RFC 6066 §3) for an address. -EINVAL for a bad host, -ENOMEM. */
int brig_tls_client_set_host(SSL *ssl, const char *host, brig_error *err);

/* One TLS end of an intercepted connection on byte queues (worker/proxy_tls_conn.c): the proxy moves
 * ciphertext between its socket and the queues with its own uv reads and writes, and plaintext through
 * SSL_read and SSL_write, so nothing here touches a socket or blocks. The caller bounds memory by reading
 * from its socket only while the plaintext it got is consumed, and by sending what brig_tls_conn_drain()
 * (or brig_tls_conn_output()) gives after each call. */
typedef struct brig_tls_conn brig_tls_conn;

/* A connection from ctx: the client end checking upstream_host (brig_tls_client_set_host()) when it is not
 * NULL, else the server end (a brig_tls_leaf() context). ctx is referenced, not owned. *ret owned by the
 * caller (brig_tls_conn_free()). -EINVAL for a bad host, -ENOMEM. */
int brig_tls_conn_new(SSL_CTX *ctx, const char *upstream_host, brig_tls_conn **ret, brig_error *err);
void brig_tls_conn_free(brig_tls_conn *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(brig_tls_conn *, brig_tls_conn_free);

/* Ciphertext received from the peer. 0 or -ENOMEM. */
int brig_tls_conn_feed(brig_tls_conn *c, const void *data, size_t len, brig_error *err);
/* The same without a copy: room for size bytes of ciphertext to read into (NULL when out of memory), valid
 * until the next call on c; then brig_tls_conn_fed() with how many of them were received. */
void *brig_tls_conn_space(brig_tls_conn *c, size_t size);
void brig_tls_conn_fed(brig_tls_conn *c, size_t len);

/* Advances the handshake with what was fed: 1 once established, -EAGAIN while it needs more from the peer
 * (send brig_tls_conn_drain()'s bytes first), -EPROTO when it failed (a certificate that did not verify
 * says why in err, kind BRIG_KIND_DENIED). */
int brig_tls_conn_handshake(brig_tls_conn *c, brig_error *err);

/* Plaintext received, at most size bytes, once established: the count, 0 when the peer closed the
 * connection (close_notify), -EAGAIN when more ciphertext is needed, -EPROTO on a TLS error. */
ssize_t brig_tls_conn_read(brig_tls_conn *c, void *buf, size_t size, brig_error *err);

/* Encrypts all of data for the peer once established (then drain). len or -EAGAIN (handshake not done),
 * -EPROTO. */
ssize_t brig_tls_conn_write(brig_tls_conn *c, const void *data, size_t len, brig_error *err);

/* Bytes of ciphertext waiting for brig_tls_conn_drain(). */
size_t brig_tls_conn_pending(brig_tls_conn *c);

/* Moves up to size bytes of ciphertext for the peer into buf; returns the count (0: nothing to send). */
size_t brig_tls_conn_drain(brig_tls_conn *c, void *buf, size_t size);
/* The same without a copy: the ciphertext for the peer (*len bytes), valid until the next call on c; then
 * brig_tls_conn_sent() with how many of them were sent. */
const void *brig_tls_conn_output(brig_tls_conn *c, size_t *len);
void brig_tls_conn_sent(brig_tls_conn *c, size_t len);

/* Queues the end of the connection (close_notify) for the peer (then drain), so that a client reading to
 * the end sees a clean close rather than a truncation. */
void brig_tls_conn_close_notify(brig_tls_conn *c);

/* For worker/proxy_tls*.c: sets err to code with OpenSSL's last reason and empties OpenSSL's (thread-local)
 * error queue so a stale reason never explains a later failure; -ENOMEM when that reason was an allocation.
 * Returns the code set. */
int brig__tls_error(brig_error *err, int code, const char *what);
