/* SPDX-License-Identifier: MIT */
/* Model-facing text for background starts, the process tools and repl (see tools/result_text.h). */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/text.h"
#include "tools/result_text.h"

static const char *str(const cJSON *o, const char *key) {
        const cJSON *it = brig_json_member(o, key);
        return cJSON_IsString(it) ? it->valuestring : "";
}

static double num(const cJSON *o, const char *key) {
        const cJSON *it = brig_json_member(o, key);
        return cJSON_IsNumber(it) ? it->valuedouble : 0;
}

/* "p1 (sleep 30): running" or "p1 (...): exited with code 0" / "killed by SIGTERM" / "lost". */
static int describe(brig_buf *b, const cJSON *p) {
        const char *state = str(p, "state");
        int r = brig_buf_appendf(b, "%s (%s): ", str(p, "process_id"), str(p, "command"));
        if (r < 0)
                return r;
        if (strcmp(state, "exited") == 0 && cJSON_IsNumber(brig_json_member(p, "exit_code")))
                return brig_buf_appendf(b, "exited with code %.0f", num(p, "exit_code"));
        if (strcmp(state, "exited") == 0 && str(p, "signal")[0])
                return brig_buf_appendf(b, "killed by %s", str(p, "signal"));
        if (strcmp(state, "lost") == 0)
                return brig_buf_appendf(b, "lost (it ended with the worker; start it again)");
        return brig_buf_appendf(b, "%s", state);
}

static int render(const char *tool, const cJSON *sc, brig_buf *b) {
        const cJSON *it;
        int r = 0;

        if (strcmp(tool, "exec") == 0)
                return brig_buf_appendf(
                        b,
                        "Started background process %s: %s\nRead its output with "
                        "process_output {\"process_id\": \"%s\"}; stop it with process_kill.",
                        str(sc, "process_id"), str(sc, "command"), str(sc, "process_id"));
        if (strcmp(tool, "process_list") == 0) {
                if (!cJSON_GetArraySize(brig_json_member(sc, "processes")))
                        return brig_buf_appendf(b, "No background processes.");
                cJSON_ArrayForEach (it, brig_json_member(sc, "processes"))
                        if ((r = describe(b, it)) < 0 || (r = brig_buf_appendf(b, ", %.0f bytes of output\n",
                                                                               num(it, "output_bytes"))) < 0)
                                return r;
                return 0;
        }
        if (strcmp(tool, "process_output") == 0) {
                if (strcmp(str(sc, "encoding"), "base64") == 0)
                        r = brig_buf_appendf(b, "[%zu bytes of base64 output in structuredContent.data]\n",
                                             strlen(str(sc, "data")));
                else
                        r = brig_buf_appendf(b, "%s", str(sc, "data"));
                if (r >= 0 && num(sc, "dropped_bytes") > 0)
                        r = brig_buf_appendf(b, "[%.0f earlier bytes are no longer kept]\n",
                                             num(sc, "dropped_bytes"));
                if (r >= 0 && (r = brig_buf_appendf(b, "[")) >= 0 && (r = describe(b, sc)) >= 0)
                        r = brig_buf_appendf(b, "; next_offset %.0f]", num(sc, "next_offset"));
                return r;
        }
        if (strcmp(tool, "process_write") == 0) {
                if ((r = brig_buf_appendf(b, "Wrote %.0f bytes to the stdin of ", num(sc, "written"))) < 0)
                        return r;
                return describe(b, sc);
        }
        if (strcmp(tool, "process_kill") == 0) {
                if ((r = brig_buf_appendf(b, "Signal sent to ")) < 0)
                        return r;
                return describe(b, sc);
        }
        if (strcmp(tool, "repl") == 0) {
                const char *status = str(sc, "status");
                if (strcmp(str(sc, "output_encoding"), "base64") == 0)
                        r = brig_buf_appendf(b, "[binary output, base64 in structuredContent.output]\n");
                else
                        r = brig_buf_appendf(b, "%s", str(sc, "output"));
                if (r >= 0 && cJSON_IsTrue(brig_json_member(sc, "restarted")))
                        r = brig_buf_appendf(b,
                                             "\n[a fresh %s interpreter was started: earlier state is gone]",
                                             str(sc, "language"));
                if (r >= 0 && cJSON_IsTrue(brig_json_member(sc, "truncated")))
                        r = brig_buf_appendf(b, "\n[output truncated at the policy's limit]");
                if (r >= 0 && strcmp(status, "ok") != 0)
                        r = brig_buf_appendf(
                                b, "\n[%s: %s]", str(sc, "language"),
                                strcmp(status, "interrupted") == 0
                                        ? "interrupted (timeout or cancel); the interpreter "
                                          "kept its state"
                                : strcmp(status, "killed") == 0
                                        ? "killed (it ignored the interrupt); state is lost"
                                : strcmp(status, "crashed") == 0
                                        ? "the interpreter exited; the next call starts a fresh one"
                                        : "the code failed (see the output above)");
                return r;
        }
        /* Anything else: its JSON, compact. */
        char *j = cJSON_PrintUnformatted(sc);
        r = j ? brig_buf_appendf(b, "%s", j) : -ENOMEM;
        free(j);
        return r;
}

char *brig_tool_result_text(const char *tool, const cJSON *sc, bool is_error) {
        brig_buf b = {0};

        (void) is_error;
        if (!sc)
                return strdup("");
        if (render(tool, sc, &b) < 0) {
                brig_buf_done(&b);
                return NULL;
        }
        return b.data ? b.data : strdup("");
}
