/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include <cjson/cJSON.h>

/* The text content block of the results that have no renderer of their own (a background start, the
 * process_* tools, repl): plain text written for a model, saying what happened, the output, and what to do
 * next, rather than a JSON dump (clients that pass only `content` to the model send exactly this). Pure.
 * New string (caller frees); NULL on allocation failure. */
char *brig_tool_result_text(const char *tool, const cJSON *sc, bool is_error);
