/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Finds where a value sits in JSON text, for messages with line:column (cJSON keeps no positions).
 * path uses the notation of brig's diagnostics: members joined by ".", a member name that is not plain
 * letters, digits and "_" as ["name"], array elements as [N]; "" is the document. Returns true and the
 * byte offset of the value's first character, or false when the path is not in the text (or uses escapes
 * this reader does not decode). Pure; any thread. */
bool brig_json_locate(const char *text, size_t len, const char *path, size_t *ret_off);

/* 1-based line and column (in UTF-8 code points) of byte offset off in text. */
void brig_text_line_column(const char *text, size_t off, unsigned *ret_line, unsigned *ret_column);
