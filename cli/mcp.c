/* SPDX-License-Identifier: MIT */
/* `brig mcp`: an MCP server on stdio for clients that spawn their servers (Claude Desktop, IDEs, the SDK's
 * StdioClientTransport). It relays lines between stdio and brigd's socket unchanged, except that the
 * client's initialize request gains brig/environment and brig/policy in its _meta. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/paths.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/text.h"
#include "common/framing.h"

typedef struct relay {
        int to;
        const char *env_id, *policy;
        bool injected;
        long pending; /* requests forwarded and not answered yet */
} relay;

/* A request carries both "id" and "method"; a response only "id". */
static void count(relay *r, const char *line, size_t len, int direction) {
        cJSON *msg = cJSON_ParseWithLength(line, len);
        bool has_id = brig_json_member(msg, "id") != NULL,
             has_method = brig_json_member(msg, "method") != NULL;
        if (has_id && has_method && direction > 0)
                r->pending++;
        else if (has_id && !has_method && direction < 0 && r->pending > 0)
                r->pending--;
        cJSON_Delete(msg);
}

/* A line from brigd: to the client as it came. */
static int server_line(const char *line, size_t len, void *userdata) {
        relay *r = userdata;
        int rc;

        count(r, line, len, -1);
        rc = brig_write_all(1, line, len);
        return rc < 0 ? rc : brig_write_all(1, "\n", 1);
}

/* A line from the client: the first initialize gets our _meta; everything else passes as it came. */
static int client_line(const char *line, size_t len, void *userdata) {
        relay *r = userdata;
        int rc;

        count(r, line, len, +1);
        if (!r->injected && (r->env_id || r->policy) && memmem(line, len, "\"initialize\"", 12)) {
                cJSON *msg = cJSON_ParseWithLength(line, len);
                const cJSON *method = brig_json_member(msg, "method");
                if (cJSON_IsString(method) && strcmp(method->valuestring, "initialize") == 0) {
                        cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
                        if (!params)
                                params = cJSON_AddObjectToObject(msg, "params");
                        cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
                        if (!meta)
                                meta = cJSON_AddObjectToObject(params, "_meta");
                        if (meta && r->env_id && !cJSON_GetObjectItemCaseSensitive(meta, "brig/environment"))
                                cJSON_AddStringToObject(meta, "brig/environment", r->env_id);
                        if (meta && r->policy && !cJSON_GetObjectItemCaseSensitive(meta, "brig/policy"))
                                cJSON_AddStringToObject(meta, "brig/policy", r->policy);
                        char *text = cJSON_PrintUnformatted(msg);
                        cJSON_Delete(msg);
                        r->injected = true;
                        if (!text)
                                return -ENOMEM;
                        rc = brig_write_all(r->to, text, strlen(text));
                        free(text);
                        return rc < 0 ? rc : brig_write_all(r->to, "\n", 1);
                }
                cJSON_Delete(msg);
        }
        rc = brig_write_all(r->to, line, len);
        return rc < 0 ? rc : brig_write_all(r->to, "\n", 1);
}

static void mcp_help(void) {
        printf("Usage: brig [--socket PATH] mcp [--environment ID] [--policy NAME]\n"
               "\n"
               "Serves MCP on stdin/stdout by relaying to the brigd on the socket, for MCP clients that "
               "start\n"
               "their servers as commands. --environment attaches every session to that persistent\n"
               "environment (created on first use with --policy); without it, each session gets a fresh "
               "one.\n"
               "It connects to brigd when the client sends its first message, so a client may start it\n"
               "long before it speaks (brigd closes connections that send no initialize within its\n"
               "--handshake-timeout).\n"
               "\n"
               "Options:\n"
               "  --environment ID  attach every session to this persistent environment\n"
               "  --policy NAME     policy for a new environment (a name from brigd's policy directory)\n"
               "  --socket PATH     brigd's socket (see below)\n"
               "\n" BRIG_SOCKET_LOOKUP_HELP "\n"
               "MCP launchers often pass their servers only HOME, PATH, USER, LOGNAME, SHELL and TERM, so\n"
               "an exported BRIG_SOCKET (or XDG_RUNTIME_DIR) may not reach brig mcp: give the socket as\n"
               "--socket PATH in the server's arguments, or its \"env\", or run brigd on the default "
               "path.\n");
}

int brig_cli_mcp(int argc, char **argv) {
        static const struct option opts[] = {
                {"environment", required_argument, NULL, 'e'},
                {"policy", required_argument, NULL, 'p'},
                {"socket", required_argument, NULL, 's'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *sock = NULL;
        relay up = {0};
        brig_framer framer, down;
        char buf[65536];
        int c, fd, code = 0;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'e':
                        up.env_id = optarg;
                        break;
                case 'p':
                        up.policy = optarg;
                        break;
                case 's':
                        sock = optarg;
                        break;
                case 'h':
                        mcp_help();
                        return 0;
                default:
                        return 2;
                }
        }
        (void) signal(SIGPIPE, SIG_IGN);
        /* brigd closes connections that send no initialize within its handshake timeout; a client may
         * spawn us long before it speaks, so the connection waits for its first bytes. */
        fd = -1;
        brig_framer_init(&framer, BRIG_MAX_MESSAGE_BYTES);
        brig_framer_init(&down, BRIG_MAX_MESSAGE_BYTES);
        /* stdout carries protocol only; what we have to say goes to stderr. */
        for (bool in_open = true;;) {
                struct pollfd p[2] = {{.fd = in_open ? 0 : -1, .events = POLLIN},
                                      {.fd = fd, .events = POLLIN}};
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        code = 1;
                        break;
                }
                if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = read(fd, buf, sizeof(buf));
                        if (n <= 0)
                                break; /* brigd closed: so do we */
                        if (brig_framer_feed(&down, buf, (size_t) n, server_line, &up) < 0)
                                break;
                        /* The client stopped sending and has every answer: done. */
                        if (!in_open && up.pending == 0)
                                break;
                }
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = read(0, buf, sizeof(buf));
                        if (n > 0 && fd < 0) {
                                if ((fd = brig_cli_connect(sock)) < 0) {
                                        code = 1;
                                        break;
                                }
                                up.to = fd;
                        }
                        if (n <= 0) {
                                /* The client is done sending. Closing our side now would cancel its calls
                                 * (to brigd that is a client leaving): wait for the answers still owed. */
                                in_open = false;
                                if (up.pending == 0)
                                        break;
                                continue;
                        }
                        int r = brig_framer_feed(&framer, buf, (size_t) n, client_line, &up);
                        if (r < 0) {
                                fprintf(stderr, "brig mcp: %s\n",
                                        r == -EMSGSIZE ? "message too large" : "connection to brigd lost");
                                code = 1;
                                break;
                        }
                }
        }
        brig_framer_done(&framer);
        brig_framer_done(&down);
        if (fd >= 0)
                (void) close(fd);
        return code;
}
