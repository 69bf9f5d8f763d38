/* SPDX-License-Identifier: MIT */
/* Which call of an environment made a proxied connection.
 *
 * The accepted socket's addresses name the client's socket through sock_diag in the jail's
 * namespace (a netlink socket the init made there), whose inode one process of the environment holds
 * (/proc/PID/fd, walking the init's descendants, at most MAX_WALK_ENTRIES /proc entries); that pid goes
 * through the attribution of worker/culprit.h to a call or background process. A socket passed
 * elsewhere, closed in the meantime, or past the walk's bound is attributed to no call. */
#include <dirent.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "common/cleanup.h"
#include "tools/process.h"
#include "worker/culprit.h"
#include "worker/proxy_internal.h"

#define MAX_WALK 4096 /* processes of an environment looked through for a socket's owner */

/* The inode of the jail's end of an accepted connection: the socket whose source is our peer and whose
 * destination is our local address, looked up by its 4-tuple through sock_diag in the jail's namespace
 * (one hash lookup in the kernel). -ENOENT when it is gone. */
static int peer_inode(int diag_fd, const struct sockaddr_storage *peer, const struct sockaddr_storage *local,
                      unsigned long *ret) {
        struct {
                struct nlmsghdr nlh;
                struct inet_diag_req_v2 r;
        } req = {
                .nlh = {.nlmsg_len = sizeof(req),
                        .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                        .nlmsg_flags = NLM_F_REQUEST},
                .r = {.sdiag_family = (uint8_t) peer->ss_family,
                      .sdiag_protocol = IPPROTO_TCP,
                      .idiag_states = ~0u,
                      .id.idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}},
        };
        union {
                struct nlmsghdr nlh;
                char buf[8192];
        } resp;
        struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
        ssize_t n;

        if (peer->ss_family == AF_INET) {
                const struct sockaddr_in *p = (const void *) peer, *l = (const void *) local;
                req.r.id.idiag_sport = p->sin_port;
                req.r.id.idiag_dport = l->sin_port;
                memcpy(req.r.id.idiag_src, &p->sin_addr, 4);
                memcpy(req.r.id.idiag_dst, &l->sin_addr, 4);
        } else if (peer->ss_family == AF_INET6) {
                const struct sockaddr_in6 *p = (const void *) peer, *l = (const void *) local;
                req.r.id.idiag_sport = p->sin6_port;
                req.r.id.idiag_dport = l->sin6_port;
                memcpy(req.r.id.idiag_src, &p->sin6_addr, 16);
                memcpy(req.r.id.idiag_dst, &l->sin6_addr, 16);
        } else
                return -EAFNOSUPPORT;
        do
                n = sendto(diag_fd, &req, sizeof(req), MSG_DONTWAIT, (struct sockaddr *) &nl, sizeof(nl));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        /* The kernel answers before sendto() returns. */
        /* Only the kernel's answer counts (nl_pid 0): with capabilities a policy granted, a process of the
         * jail could queue messages on this socket. */
        socklen_t nl_len = sizeof(nl);
        do
                n = recvfrom(diag_fd, &resp, sizeof(resp), MSG_DONTWAIT, (struct sockaddr *) &nl, &nl_len);
        while (n < 0 && errno == EINTR);
        if (n >= 0 && nl.nl_pid != 0)
                return -ENOENT;
        if (n < 0)
                return -errno;
        for (struct nlmsghdr *h = &resp.nlh; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n)) {
                if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE)
                        return -ENOENT;
                if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                        continue;
                const struct inet_diag_msg *m = NLMSG_DATA(h);
                if (m->idiag_inode == 0 || m->id.idiag_sport != req.r.id.idiag_sport ||
                    m->id.idiag_dport != req.r.id.idiag_dport)
                        return -ENOENT;
                *ret = m->idiag_inode;
                return 0;
        }
        return -ENOENT;
}

/* /proc entries one attribution may read: the agent decides how many processes, threads and fds its
 * environment has, and this runs on the loop thread. Past it, the connection is attributed to no call. */
#define MAX_WALK_ENTRIES 16384

static bool holds_socket(pid_t pid, const char *want, size_t *budget) {
        char path[64], target[64];
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        (void) snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        if (!(d = opendir(path)))
                return false;
        while (*budget > 0 && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                (*budget)--;
                ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = 0;
                if (strcmp(target, want) == 0)
                        return true;
        }
        return false;
}

/* The host pid of the environment's process holding socket inode, or -ENOENT. Walks the init's
 * descendants breadth first through /proc/PID/task/TID/children. */
static pid_t socket_owner(pid_t init, unsigned long inode) {
        _cleanup_free_ pid_t *queue = malloc(MAX_WALK * sizeof(pid_t));
        size_t head = 0, tail = 0, budget = MAX_WALK_ENTRIES;
        char want[64];

        if (!queue)
                return -ENOMEM;
        (void) snprintf(want, sizeof(want), "socket:[%lu]", inode);
        queue[tail++] = init;
        while (head < tail && budget > 0) {
                pid_t pid = queue[head++];
                char path[64];
                if (pid != init && holds_socket(pid, want, &budget))
                        return pid;
                (void) snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
                _cleanup_(closedirp) DIR *tasks = opendir(path);
                struct dirent *de;
                while (tasks && budget > 0 && (de = readdir(tasks))) {
                        char cpath[128];
                        if (de->d_name[0] == '.')
                                continue;
                        budget--;
                        (void) snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int) pid,
                                        de->d_name);
                        _cleanup_fclose_ FILE *f = fopen(cpath, "re");
                        int child;
                        while (f && tail < MAX_WALK && fscanf(f, "%d", &child) == 1)
                                queue[tail++] = child;
                }
        }
        return -ENOENT;
}

void brig__pconn_attribute(pconn *c) {
        brig_env *env = c->p->env;
        struct sockaddr_storage peer, local;
        int plen = sizeof(peer), llen = sizeof(local);
        unsigned long inode = 0;
        pid_t owner;

        if (env->init_pid <= 0 || c->p->diag_fd < 0 ||
            uv_tcp_getpeername(&c->client.tcp, (struct sockaddr *) &peer, &plen) < 0 ||
            uv_tcp_getsockname(&c->client.tcp, (struct sockaddr *) &local, &llen) < 0 ||
            peer_inode(c->p->diag_fd, &peer, &local, &inode) < 0 ||
            (owner = socket_owner(env->init_pid, inode)) <= 0)
                return;
        brig_culprit who = brig__culprit_of(env, owner);
        if (who.call)
                c->call_id = who.call->call_id;
        else if (who.process) {
                c->call_id = who.process->call_id;
                (void) snprintf(c->process_id, sizeof(c->process_id), "%s", who.process->id);
        }
}
