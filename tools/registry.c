/* SPDX-License-Identifier: MIT */
/* The tool table and its schemas. The schemas are written as JSON tokens and turned into strings by the
 * preprocessor (JSON() below), so that they read as JSON rather than as escaped C strings; a test validates
 * each against JSON Schema 2020-12 and every real result against its output schema
 * (tests/tool_schema_check.py). */
#include <errno.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "sandbox/policy.h"
#include "tools/registry.h"

/* Expands macros in the argument first (the shared fragments below), then makes it a string. */
#define JSON(...) JSON_(__VA_ARGS__)
#define JSON_(...) #__VA_ARGS__

// clang-format off

/* JSON's true and false, not stdbool's 1 and 0: JSON() expands macros in its argument. */
#pragma push_macro("true")
#pragma push_macro("false")
#undef true
#undef false

/* Members any result may carry: a failure that is the call's own (an escape, a bad argument, a jail that
 * could not be built), what the policy refused during it, and a worker restart notice. */
#define ERROR_OBJECT                                                                                        \
        {"type": "object", "required": ["kind", "message"],                                                \
         "properties": {"kind": {"type": "string", "description": "invalid_argument, not_found, denied, limit, io, sandbox, policy or internal"},                                                         \
                        "message": {"type": "string", "description": "What went wrong, naming the argument or path"}}}
#define COMMON_PROPS                                                                                        \
        "refused": {"type": "array", "items": {"type": "object"}, "description": "System calls or connections the policy refused during the call"}, \
        "refused_more": {"type": "integer"},                                                              \
        "environment_restarted": {"type": "boolean", "description": "The worker restarted since the last call: background processes and interpreter state were lost"}
/* A failed call's result: only error is sure to be there. */
#define OR_ERROR {"required": ["error"]}

#define FILE_SNAPSHOT_PROPS                                                                                 \
        "snapshot": {"type": "string", "description": "The automatic snapshot taken after the call"},     \
        "snapshot_error": {"type": "string", "description": "Why the automatic snapshot failed (the call itself succeeded)"}

#define PATH_ARG(what) "path": {"type": "string", "description": what}

static const char exec_in[] = JSON({
        "type": "object", "additionalProperties": false,
        "properties": {
                "command": {"type": "string", "description": "Shell command line, run with /bin/sh -c. Give this or argv, not both."},
                "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                         "description": "Program and arguments, run without a shell (instead of command); argv[0] is looked up in PATH"},
                "cwd": {"type": "string", "description": "Working directory relative to the workspace root (no .. and no absolute path); default: the root"},
                "env": {"type": "array", "description": "Variables added to the policy's environment",
                        "items": {"type": "object", "additionalProperties": false, "required": ["name", "value"],
                                  "properties": {"name": {"type": "string", "description": "Variable name (no =)"},
                                                 "value": {"type": "string", "description": "Its value"}}}},
                "stdin": {"type": "string", "description": "Standard input (default: empty)"},
                "timeout_ms": {"type": "integer", "minimum": 1, "description": "Wall-clock limit in milliseconds; at most the policy's wall_time (its default). Not with background."},
                "background": {"type": "boolean", "description": "Return at once with a process_id; manage it with process_list, process_output, process_write and process_kill"}}});

static const char exec_out[] = JSON({
        "type": "object",
        "properties": {
                "exit_code": {"type": ["integer", "null"], "description": "null when the command did not exit by itself"},
                "signal": {"type": ["string", "null"], "description": "The signal that ended it, such as SIGKILL"},
                "stdout": {"type": "string"}, "stderr": {"type": "string"},
                "stdout_encoding": {"enum": ["utf8", "base64"]}, "stderr_encoding": {"enum": ["utf8", "base64"]},
                "stdout_bytes": {"type": "integer"}, "stderr_bytes": {"type": "integer"},
                "truncated": {"type": "boolean", "description": "Output went past the policy's limit"},
                "timed_out": {"type": "boolean"}, "duration_ms": {"type": "integer"},
                "oom_killed": {"type": "boolean"},
                "process_id": {"type": "string", "description": "Background start: the process's id for the process_* tools"},
                "state": {"enum": ["running"], "description": "Background start: the process runs"},
                "command": {"type": "string", "description": "Background start: the command line"},
                "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["exit_code", "signal", "stdout", "stderr", "truncated", "timed_out", "duration_ms"]},
                  {"required": ["process_id", "state", "command"]}, OR_ERROR]});

static const char repl_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["language", "code"],
        "properties": {
                "language": {"enum": ["python", "bash", "node"], "description": "Which interpreter; each language has its own, kept between calls"},
                "code": {"type": "string", "description": "Code to run; in python and node the value of a final expression is printed"},
                "timeout_ms": {"type": "integer", "minimum": 1, "description": "Interrupt the code after this many milliseconds (the interpreter keeps its state); default: the policy's wall_time"}}});

static const char repl_out[] = JSON({
        "type": "object",
        "properties": {
                "language": {"type": "string"},
                "status": {"enum": ["ok", "error", "interrupted", "killed", "crashed"]},
                "output": {"type": "string", "description": "stdout and stderr together"},
                "output_encoding": {"enum": ["utf8", "base64"]},
                "truncated": {"type": "boolean"}, "restarted": {"type": "boolean", "description": "A fresh interpreter had to be started: earlier state is gone"},
                "duration_ms": {"type": "integer"},
                "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["language", "status", "output", "output_encoding", "truncated", "restarted", "duration_ms"]}, OR_ERROR]});

#define PROCESS_ID_ARG "process_id": {"type": "string", "description": "The id exec returned for a background start (such as p1); process_list lists them"}
#define PROCESS_PROPS                                                                                       \
        "process_id": {"type": "string"}, "command": {"type": "string"},                                  \
        "state": {"enum": ["running", "exited", "lost"]},                                                 \
        "exit_code": {"type": ["integer", "null"]}, "signal": {"type": ["string", "null"]},              \
        "started": {"type": "integer", "description": "Unix time"},                                       \
        "duration_ms": {"type": ["integer", "null"]}, "output_bytes": {"type": "integer"}
#define PROCESS_REQUIRED "process_id", "command", "state", "exit_code", "signal", "started", "duration_ms", "output_bytes"
/* A process's own error is a string (why it was lost); a failed call's is the error object. */
#define PROCESS_ERROR "error": {"anyOf": [{"type": "string"}, ERROR_OBJECT]}

static const char process_list_in[] = JSON({"type": "object", "additionalProperties": false, "properties": {}});

static const char process_list_out[] = JSON({
        "type": "object",
        "properties": {"processes": {"type": "array", "items": {"type": "object", "required": [PROCESS_REQUIRED],
                                                                "properties": {PROCESS_PROPS, "error": {"type": "string"}}}},
                       "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["processes"]}, OR_ERROR]});

static const char process_output_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["process_id"],
        "properties": {PROCESS_ID_ARG,
                       "offset": {"type": "integer", "minimum": 0, "description": "Byte offset since the process started: next_offset of the previous read (default 0)"},
                       "limit": {"type": "integer", "minimum": 0, "maximum": 1048576, "description": "At most this many bytes (default 65536)"}}});

static const char process_output_out[] = JSON({
        "type": "object",
        "properties": {PROCESS_PROPS, PROCESS_ERROR,
                       "data": {"type": "string"}, "encoding": {"enum": ["utf8", "base64"]},
                       "offset": {"type": "integer"}, "next_offset": {"type": "integer", "description": "Pass as offset to read on"},
                       "dropped_bytes": {"type": "integer"}, "lost_bytes": {"type": "integer"}, "log_error": {"type": "string"},
                       COMMON_PROPS},
        "anyOf": [{"required": [PROCESS_REQUIRED, "data", "encoding", "offset", "next_offset"]}, OR_ERROR]});

static const char process_write_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["process_id"],
        "properties": {PROCESS_ID_ARG,
                       "data": {"type": "string", "description": "Bytes to write to its stdin (default: none)"},
                       "close_stdin": {"type": "boolean", "description": "Close its stdin after writing (end of input)"}}});

static const char process_write_out[] = JSON({
        "type": "object",
        "properties": {PROCESS_PROPS, PROCESS_ERROR, "written": {"type": "integer"}, COMMON_PROPS},
        "anyOf": [{"required": [PROCESS_REQUIRED, "written"]}, OR_ERROR]});

static const char process_kill_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["process_id"],
        "properties": {PROCESS_ID_ARG,
                       "signal": {"type": "string", "description": "Signal name such as SIGTERM, SIGINT or SIGKILL (default SIGTERM)"}}});

static const char process_kill_out[] = JSON({
        "type": "object",
        "properties": {PROCESS_PROPS, PROCESS_ERROR, "signalled": {"type": "boolean"}, COMMON_PROPS},
        "anyOf": [{"required": [PROCESS_REQUIRED, "signalled"]}, OR_ERROR]});

#define ENCODING_ARG(what) "encoding": {"enum": ["utf8", "base64"], "description": what}

static const char read_file_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["path"],
        "properties": {PATH_ARG("File path relative to the workspace root"),
                       "offset": {"type": "integer", "minimum": 1, "description": "First line to return, counting from 1"},
                       "limit": {"type": "integer", "minimum": 1, "description": "Number of lines to return"},
                       "line_numbers": {"type": "boolean", "description": "Prefix each line with its number and a tab, like cat -n"},
                       ENCODING_ARG("Default: utf8 for text, base64 for binary files")}});

static const char read_file_out[] = JSON({
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}, "encoding": {"enum": ["utf8", "base64"]},
                       "size": {"type": "integer"}, "total_lines": {"type": "integer"},
                       "truncated": {"type": "boolean", "description": "More lines follow"},
                       "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["path", "content", "encoding"]}, OR_ERROR]});

static const char write_file_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["path", "content"],
        "properties": {PATH_ARG("File path relative to the workspace root"),
                       "content": {"type": "string", "description": "The new content"},
                       ENCODING_ARG("How content is encoded (default utf8)"),
                       "mode": {"type": ["string", "integer"], "description": "Permissions as an octal string such as \"0644\" (a number is taken as is: 420 is 0644); default: kept for an existing file, 0644 for a new one"},
                       "create_parents": {"type": "boolean", "description": "Create missing parent directories (default true)"}}});

static const char write_file_out[] = JSON({
        "type": "object",
        "properties": {"path": {"type": "string"}, "bytes": {"type": "integer"}, "created": {"type": "boolean"},
                       FILE_SNAPSHOT_PROPS, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["path", "bytes", "created"]}, OR_ERROR]});

static const char edit_file_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["path", "edits"],
        "properties": {PATH_ARG("File path relative to the workspace root"),
                       "edits": {"type": "array", "minItems": 1, "maxItems": 100, "description": "Replacements, applied in order, all or none",
                                 "items": {"type": "object", "additionalProperties": false, "required": ["old_text", "new_text"],
                                           "properties": {"old_text": {"type": "string", "minLength": 1, "description": "Exact text to find; it must match exactly once unless replace_all"},
                                                          "new_text": {"type": "string", "description": "Replacement"},
                                                          "replace_all": {"type": "boolean", "description": "Replace every match instead of requiring exactly one"}}}},
                       "dry_run": {"type": "boolean", "description": "Return the diff without writing"}}});

static const char edit_file_out[] = JSON({
        "type": "object",
        "properties": {"path": {"type": "string"}, "diff": {"type": "string"}, "replacements": {"type": "integer"},
                       "applied": {"type": "boolean"}, FILE_SNAPSHOT_PROPS, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["path", "diff", "replacements", "applied"]}, OR_ERROR]});

static const char list_directory_in[] = JSON({
        "type": "object", "additionalProperties": false,
        "properties": {PATH_ARG("Directory relative to the workspace root (default: the root)"),
                       "depth": {"type": "integer", "minimum": 1, "maximum": 10, "description": "Levels to descend (default 1: the directory's own entries)"}}});

static const char list_directory_out[] = JSON({
        "type": "object",
        "properties": {"path": {"type": "string"},
                       "entries": {"type": "array", "items": {"type": "object", "properties": {"path": {"type": "string"}, "type": {"type": "string"}, "size": {"type": "integer"}}}},
                       "truncated": {"type": "boolean"}, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["entries", "truncated"]}, OR_ERROR]});

static const char glob_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["pattern"],
        "properties": {"pattern": {"type": "string", "description": "Glob pattern such as \"src/**/*.c\""},
                       PATH_ARG("Directory to match under (default: the workspace root)")}});

static const char glob_out[] = JSON({
        "type": "object",
        "properties": {"matches": {"type": "array", "items": {"type": "string"}}, "truncated": {"type": "boolean"},
                       "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["matches", "truncated"]}, OR_ERROR]});

static const char grep_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["pattern"],
        "properties": {"pattern": {"type": "string", "description": "Regular expression (PCRE2)"},
                       PATH_ARG("File or directory to search (default: the workspace root)"),
                       "glob": {"type": "string", "description": "Only files whose name (or, when it contains a /, whose path below path) matches this glob"},
                       "ignore_case": {"type": "boolean", "description": "Match letters case-insensitively"},
                       "max_results": {"type": "integer", "minimum": 1, "description": "At most this many matching lines (capped by the policy)"}}});

static const char grep_out[] = JSON({
        "type": "object",
        "properties": {"matches": {"type": "array", "items": {"type": "object", "properties": {"path": {"type": "string"}, "line": {"type": "integer"}, "text": {"type": "string"}}}},
                       "files_searched": {"type": "integer"}, "files_skipped": {"type": "integer"}, "truncated": {"type": "boolean"},
                       "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["matches", "truncated"]}, OR_ERROR]});

static const char stat_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["path"],
        "properties": {PATH_ARG("Path relative to the workspace root")}});

static const char stat_out[] = JSON({
        "type": "object",
        "properties": {"path": {"type": "string"}, "type": {"type": "string"}, "size": {"type": "integer"}, "mode": {"type": "string"},
                       "mtime": {"type": "string"}, "link_target": {"type": "string"}, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["path", "type", "size", "mode", "mtime"]}, OR_ERROR]});

static const char move_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["from", "to"],
        "properties": {"from": {"type": "string", "description": "Existing path relative to the workspace root"},
                       "to": {"type": "string", "description": "New path (its parent must exist)"},
                       "overwrite": {"type": "boolean", "description": "Replace an existing destination (default false)"}}});

static const char move_out[] = JSON({
        "type": "object",
        "properties": {"from": {"type": "string"}, "to": {"type": "string"}, FILE_SNAPSHOT_PROPS, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["from", "to"]}, OR_ERROR]});

static const char remove_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["path"],
        "properties": {PATH_ARG("Path relative to the workspace root"),
                       "recursive": {"type": "boolean", "description": "Remove a directory and everything in it"}}});

static const char remove_out[] = JSON({
        "type": "object",
        "properties": {"path": {"type": "string"}, "removed": {"type": "integer"}, FILE_SNAPSHOT_PROPS, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["path", "removed"]}, OR_ERROR]});

static const char make_directory_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["path"],
        "properties": {PATH_ARG("Directory path relative to the workspace root"),
                       "parents": {"type": "boolean", "description": "Create missing parents (default true)"}}});

static const char make_directory_out[] = JSON({
        "type": "object",
        "properties": {"path": {"type": "string"}, "created": {"type": "boolean"}, FILE_SNAPSHOT_PROPS, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["path", "created"]}, OR_ERROR]});

static const char snapshot_in[] = JSON({
        "type": "object", "additionalProperties": false,
        "properties": {"message": {"type": "string", "description": "What this snapshot is (default: snapshot)"}}});

static const char snapshot_out[] = JSON({
        "type": "object",
        "properties": {"id": {"type": "string"}, "message": {"type": "string"}, "files_changed": {"type": "integer"},
                       "created": {"type": "boolean", "description": "false: nothing changed, id is the last snapshot"},
                       "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["id", "created"]}, OR_ERROR]});

static const char history_in[] = JSON({
        "type": "object", "additionalProperties": false,
        "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "At most this many snapshots (default 20)"},
                       PATH_ARG("Only snapshots that changed this file or directory, relative to the workspace")}});

static const char history_out[] = JSON({
        "type": "object",
        "properties": {"snapshots": {"type": "array", "items": {"type": "object", "properties": {
                               "id": {"type": "string"}, "message": {"type": "string"}, "time": {"type": "string"},
                               "call_id": {"type": ["string", "null"]}, "tool": {"type": ["string", "null"]}, "files_changed": {"type": "integer"}}}},
                       "truncated": {"type": "boolean"}, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["snapshots"]}, OR_ERROR]});

static const char diff_in[] = JSON({
        "type": "object", "additionalProperties": false,
        "properties": {"from": {"type": "string", "description": "Old side: a snapshot id (full, or at least its first 4 hex digits), HEAD or HEAD~N (default HEAD, the last snapshot)"},
                       "to": {"type": "string", "description": "New side: a snapshot id (full, or at least its first 4 hex digits), HEAD or HEAD~N (default: the current workspace)"},
                       PATH_ARG("Only this file or directory")}});

static const char diff_out[] = JSON({
        "type": "object",
        "properties": {"diff": {"type": "string"},
                       "files": {"type": "array", "items": {"type": "object", "properties": {"path": {"type": "string"}, "status": {"type": "string"}}}},
                       "truncated": {"type": "boolean"}, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["diff", "files"]}, OR_ERROR]});

static const char restore_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["snapshot"],
        "properties": {"snapshot": {"type": "string", "description": "The snapshot to go back to: a snapshot id (full, or at least its first 4 hex digits), HEAD or HEAD~N"},
                       PATH_ARG("Only this file or directory (default: the whole workspace)")}});

static const char restore_out[] = JSON({
        "type": "object",
        "properties": {"id": {"type": "string"}, "created": {"type": "boolean"}, "restored_from": {"type": "string"},
                       "previous": {"type": "string"}, "path": {"type": ["string", "null"]}, "files_changed": {"type": "integer"},
                       "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["id", "restored_from", "previous"]}, OR_ERROR]});

static const char memory_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["command"],
        "properties": {
                "command": {"enum": ["view", "create", "str_replace", "insert", "delete", "rename"],
                            "description": "view a file or directory; create a new file; str_replace text; insert text after a line; delete a file or directory; rename a file or directory"},
                "path": {"type": "string", "description": "view, create, str_replace, insert, delete: a path under /memories, such as /memories/build.md"},
                "view_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2,
                               "description": "view of a file: [first line, last line], 1-based; -1 as last line: to the end"},
                "file_text": {"type": "string", "description": "create: the new file's content"},
                "old_str": {"type": "string", "description": "str_replace: the exact text to replace; it must occur exactly once"},
                "new_str": {"type": "string", "description": "str_replace: the replacement (default: empty, which deletes old_str)"},
                "insert_line": {"type": "integer", "minimum": 0, "description": "insert: the line after which insert_text goes (0: at the start)"},
                "insert_text": {"type": "string", "description": "insert: the text to insert"},
                "attribution": {"type": "boolean", "description": "view of a file: also say which version, environment and call wrote each part (default false)"},
                "old_path": {"type": "string", "description": "rename: what to rename, a path under /memories"},
                "new_path": {"type": "string", "description": "rename: its new path, which must not exist"}}});

#define FLAGS {"type": "array", "items": {"enum": ["wrong", "stale"]}, "description": "Feedback reported this memory wrong or stale: check before relying on it"}
#define FEEDBACK_COUNTS {"type": "object", "properties": {"helpful": {"type": "integer"}, "wrong": {"type": "integer"}, "stale": {"type": "integer"}}}

static const char memory_out[] = JSON({
        "type": "object",
        "properties": {"result": {"type": "string", "description": "What the model reads, in the memory tool convention's words"},
                       "version": {"type": "string", "description": "A change: the memory's new version (see memory_history)"},
                       "current_text": {"type": "string", "description": "A str_replace that found no unique old_str: the file's current text"},
                       "attribution": {"type": "array", "description": "view with attribution: who wrote which lines",
                                       "items": {"type": "object", "properties": {
                                               "start_line": {"type": "integer"}, "lines": {"type": "integer"},
                                               "version": {"type": "string"}, "time": {"type": "string"},
                                               "environment": {"type": ["string", "null"]}, "peer_uid": {"type": ["string", "null"]},
                                               "call_id": {"type": ["string", "null"]}, "command": {"type": ["string", "null"]},
                                               "path": {"type": ["string", "null"]}, "feedback": {"type": ["string", "null"]},
                                               "new_path": {"type": ["string", "null"]}}}},
                       "flags": FLAGS, "feedback": FEEDBACK_COUNTS,
                       "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["result"]}, OR_ERROR]});

static const char memory_history_in[] = JSON({
        "type": "object", "additionalProperties": false,
        "properties": {"path": {"type": "string", "description": "Only versions that changed this file or directory, or were feedback about it, a path under /memories"}}});

static const char memory_history_out[] = JSON({
        "type": "object",
        "properties": {"versions": {"type": "array", "items": {"type": "object", "properties": {
                               "version": {"type": "string"}, "time": {"type": "string"},
                               "environment": {"type": ["string", "null"]}, "call_id": {"type": ["string", "null"]},
                               "peer_uid": {"type": ["string", "null"]}, "command": {"type": ["string", "null"]},
                               "path": {"type": ["string", "null"]}, "feedback": {"type": ["string", "null"]},
                               "new_path": {"type": ["string", "null"]}}}},
                       "truncated": {"type": "boolean"}, "result": {"type": "string"},
                       "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["versions", "result"]}, OR_ERROR]});

static const char memory_restore_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["version"],
        "properties": {"version": {"type": "string", "description": "The version to go back to: its id from memory_history (at least 4 hex digits)"},
                       "path": {"type": "string", "description": "Only this file or directory under /memories (default: the whole memory)"}}});

static const char memory_restore_out[] = JSON({
        "type": "object",
        "properties": {"result": {"type": "string"}, "version": {"type": "string", "description": "The new version the restore made"},
                       "restored_from": {"type": "string"}, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["result", "version", "restored_from"]}, OR_ERROR]});

static const char memory_search_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["query"],
        "properties": {"query": {"type": "string", "description": "Words to look for (at most 32 words, 1024 bytes); a passage matching more of them, and rarer ones, ranks higher"},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "How many passages at most (default 10)"}}});

static const char memory_search_out[] = JSON({
        "type": "object",
        "properties": {"results": {"type": "array", "items": {"type": "object", "properties": {
                               "path": {"type": "string"}, "line": {"type": "integer", "description": "The passage's first line"},
                               "text": {"type": "string"}, "score": {"type": "number"},
                               "flags": FLAGS, "feedback": FEEDBACK_COUNTS}}},
                       "result": {"type": "string"}, "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["results", "result"]}, OR_ERROR]});

static const char memory_feedback_in[] = JSON({
        "type": "object", "additionalProperties": false, "required": ["path", "outcome"],
        "properties": {"path": {"type": "string", "description": "The memory file, a path under /memories"},
                       "outcome": {"enum": ["helpful", "wrong", "stale"], "description": "How relying on it worked out"},
                       "note": {"type": "string", "description": "Why, in a line (at most 1024 bytes)"}}});

static const char memory_feedback_out[] = JSON({
        "type": "object",
        "properties": {"result": {"type": "string"}, "version": {"type": "string", "description": "The version that records the feedback"},
                       "error": ERROR_OBJECT, COMMON_PROPS},
        "anyOf": [{"required": ["result", "version"]}, OR_ERROR]});

#pragma pop_macro("false")
#pragma pop_macro("true")
// clang-format on

/* Annotations: read_only, destructive, idempotent, open_world. */
#define READS false, false, true, false
#define WRITES(destructive, idempotent) false, destructive, idempotent, false

static const char *const memory_content[] = {"file_text", "old_str", "new_str", "insert_text", "note", NULL};

static const brig_tool tools[] = {
        {"exec", "Run a command",
         "Run a command in this environment's jail, with the workspace at /workspace. Give `command` (a "
         "shell "
         "command line) or `argv`. Returns exit_code, signal, stdout, stderr (base64 with *_encoding when "
         "not "
         "UTF-8), truncated, timed_out and duration_ms; output streams as progress notifications when a "
         "progressToken is given. With background: true it returns a process_id at once.",
         exec_in, exec_out, false, true, false, true, BRIG_TOOL_RUN_EXEC,
         BRIG_TOOL_MUTATES | BRIG_TOOL_GROWS | BRIG_TOOL_SNAPSHOT_AFTER},
        {"process_list", "List background processes",
         "List this environment's background processes (started by exec with background: true): id, "
         "command, state, exit code, output size.",
         process_list_in, process_list_out, READS, BRIG_TOOL_RUN_PROCESS, 0},
        {"process_output", "Read a background process's output",
         "Read a background process's output (stdout and stderr interleaved) from a byte offset; pass the "
         "returned next_offset to continue. The last 1 MiB is kept.",
         process_output_in, process_output_out, READS, BRIG_TOOL_RUN_PROCESS, 0},
        {"process_write", "Write to a background process",
         "Write data to a background process's stdin; close_stdin: true closes it.", process_write_in,
         process_write_out, WRITES(false, false), BRIG_TOOL_RUN_PROCESS, 0},
        {"process_kill", "Signal a background process",
         "Send a signal (default SIGTERM) to a background process and its process group.", process_kill_in,
         process_kill_out, WRITES(true, false), BRIG_TOOL_RUN_PROCESS, 0},
        {"repl", "Run code in an interpreter",
         "Run code in this environment's long-lived python, bash or node interpreter; variables, imports, "
         "cwd and shell environment persist between calls. A timeout interrupts the code and keeps the "
         "state; restarted: true says a fresh interpreter had to be started.",
         repl_in, repl_out, false, true, false, true, BRIG_TOOL_RUN_REPL,
         BRIG_TOOL_MUTATES | BRIG_TOOL_GROWS | BRIG_TOOL_SNAPSHOT_AFTER},
        {"read_file", "Read a file",
         "Read a file of the workspace. Text comes back as is (optionally a line range, optionally numbered "
         "like cat -n); binary files come back base64-encoded with encoding \"base64\". Files over the "
         "policy's read limit must be read by line range.",
         read_file_in, read_file_out, READS, BRIG_TOOL_RUN_FILES, BRIG_TOOL_AUDIT_AS_READ},
        {"write_file", "Write a file",
         "Create or replace a file atomically (a temporary file renamed into place). Never writes through a "
         "symbolic link. Missing parent directories are created unless create_parents is false.",
         write_file_in, write_file_out, WRITES(true, true), BRIG_TOOL_RUN_FILES,
         BRIG_TOOL_MUTATES | BRIG_TOOL_GROWS | BRIG_TOOL_SNAPSHOT_AFTER},
        {"edit_file", "Edit a file",
         "Replace exact text in a file. Each edit's old_text must match exactly once (or set replace_all); "
         "edits apply in order, all or none, and the result is a unified diff. dry_run shows the diff "
         "without writing.",
         edit_file_in, edit_file_out, WRITES(true, false), BRIG_TOOL_RUN_FILES,
         BRIG_TOOL_MUTATES | BRIG_TOOL_GROWS | BRIG_TOOL_SNAPSHOT_AFTER},
        {"list_directory", "List a directory",
         "List a directory of the workspace (default: the root) to the given depth, sorted by name within "
         "each directory. Symbolic links are listed, never followed.",
         list_directory_in, list_directory_out, READS, BRIG_TOOL_RUN_FILES, BRIG_TOOL_AUDIT_AS_READ},
        {"glob", "Find files by pattern",
         "Find paths matching a glob pattern: * ? and [...] match within a path component, ** matches any "
         "number of directories; names starting with a dot only match a pattern that starts with one. "
         "Results are sorted and bounded; symbolic links to directories are not followed.",
         glob_in, glob_out, READS, BRIG_TOOL_RUN_FILES, BRIG_TOOL_AUDIT_AS_READ},
        {"grep", "Search file contents",
         "Search file contents with a regular expression (PCRE2 syntax), line by line. Binary files, .git "
         "directories and files over 16 MiB are skipped; results are bounded.",
         grep_in, grep_out, READS, BRIG_TOOL_RUN_FILES, BRIG_TOOL_AUDIT_AS_READ},
        {"stat", "Describe a path",
         "Describe a path: type, size, permissions, modification time and, for a symbolic link, its target "
         "(the link itself is described, not what it points to).",
         stat_in, stat_out, READS, BRIG_TOOL_RUN_FILES, BRIG_TOOL_AUDIT_AS_READ},
        {"move", "Move or rename",
         "Rename or move a file or directory within the workspace. Fails if the destination exists unless "
         "overwrite is true.",
         move_in, move_out, WRITES(true, false), BRIG_TOOL_RUN_FILES,
         BRIG_TOOL_MUTATES | BRIG_TOOL_SNAPSHOT_AFTER},
        {"remove", "Remove a path",
         "Remove a file, a symbolic link (not its target) or a directory (recursive is required unless it "
         "is empty).",
         remove_in, remove_out, WRITES(true, true), BRIG_TOOL_RUN_FILES,
         BRIG_TOOL_MUTATES | BRIG_TOOL_SNAPSHOT_AFTER},
        {"make_directory", "Create a directory",
         "Create a directory; missing parents are created too unless parents is false. An existing "
         "directory is not an error.",
         make_directory_in, make_directory_out, WRITES(false, true), BRIG_TOOL_RUN_FILES,
         BRIG_TOOL_MUTATES | BRIG_TOOL_GROWS | BRIG_TOOL_SNAPSHOT_AFTER},
        {"snapshot", "Snapshot the workspace",
         "Record the current state of the workspace in its history (git commits kept outside the workspace) "
         "and return the snapshot id. Nothing is recorded when nothing changed since the last snapshot.",
         snapshot_in, snapshot_out, WRITES(false, true), BRIG_TOOL_RUN_HISTORY, 0},
        {"history", "List snapshots",
         "List the workspace's snapshots, newest first: id, message, time (UTC), the call and tool that "
         "made "
         "it and how many files changed. With path, only the snapshots that changed that file or directory.",
         history_in, history_out, READS, BRIG_TOOL_RUN_HISTORY, BRIG_TOOL_AUDIT_AS_READ},
        {"diff", "Diff snapshots",
         "Unified diff between two snapshots, or between a snapshot and the current workspace (new files "
         "included). Default: the last snapshot against the current workspace.",
         diff_in, diff_out, READS, BRIG_TOOL_RUN_HISTORY, BRIG_TOOL_AUDIT_AS_READ},
        {"restore", "Restore a snapshot",
         "Bring the workspace, or one file or directory, back to a snapshot. The current state is "
         "snapshotted first and the restored state is recorded as a new snapshot, so nothing is lost. "
         "Excluded paths (such as node_modules/) are left alone.",
         restore_in, restore_out, WRITES(true, false), BRIG_TOOL_RUN_HISTORY,
         BRIG_TOOL_MUTATES | BRIG_TOOL_GROWS},
        {"memory", "Institutional memory",
         "Read and write the memory shared across environments (by default every environment of the same "
         "user; the policy decides): files under /memories that outlive this environment. Commands and "
         "arguments follow the memory tool convention: view, create, str_replace, insert, delete, rename. "
         "Every change is a version that records which environment and call made it.",
         memory_in, memory_out, WRITES(true, false), BRIG_TOOL_RUN_MEMORY, 0, memory_content},
        {"memory_history", "List memory versions",
         "List the memory's versions, newest first: version id, time, command, path, and the environment, "
         "user and call that made it. With path, only the versions that changed that file or directory and "
         "the feedback about it.",
         memory_history_in, memory_history_out, READS, BRIG_TOOL_RUN_MEMORY, BRIG_TOOL_AUDIT_AS_READ},
        {"memory_restore", "Restore a memory version",
         "Bring the memory, or one file or directory of it, back to a version from memory_history. The "
         "restore is a new version, so nothing is lost.",
         memory_restore_in, memory_restore_out, WRITES(true, false), BRIG_TOOL_RUN_MEMORY, 0},
        {"memory_search", "Search the memory",
         "Find passages of the memory's files that match words, best first (full-text ranking; memories "
         "reported helpful rank higher, those reported wrong or stale lower and flagged). Returns each "
         "passage's path, first line and text.",
         memory_search_in, memory_search_out, READS, BRIG_TOOL_RUN_MEMORY, BRIG_TOOL_AUDIT_AS_READ},
        {"memory_feedback", "Report how a memory worked out",
         "Tell whether a memory file was helpful, wrong or stale. Recorded as a version with who reported "
         "it; search ranks by it, and view and search flag memories reported wrong or stale.",
         memory_feedback_in, memory_feedback_out, WRITES(false, false), BRIG_TOOL_RUN_MEMORY, 0,
         memory_content},
};

const brig_tool *brig_tool_find(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(tools); i++)
                if (strcmp(tools[i].name, name) == 0)
                        return &tools[i];
        return NULL;
}

const brig_tool *brig_tool_at(size_t i) {
        return i < ELEMENTSOF(tools) ? &tools[i] : NULL;
}

cJSON *brig_tool_describe(const brig_tool *t) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        cJSON *in = cJSON_Parse(t->input_schema), *out = cJSON_Parse(t->output_schema), *a;

        if (!o || !in || !out || !cJSON_AddStringToObject(o, "name", t->name) ||
            !cJSON_AddStringToObject(o, "title", t->title) ||
            !cJSON_AddStringToObject(o, "description", t->description)) {
                cJSON_Delete(in);
                cJSON_Delete(out);
                return NULL;
        }
        /* brig_json_add() consumes its item, also when it fails. */
        if (!brig_json_add(o, "inputSchema", in)) {
                cJSON_Delete(out);
                return NULL;
        }
        if (!brig_json_add(o, "outputSchema", out) || !(a = cJSON_AddObjectToObject(o, "annotations")) ||
            !cJSON_AddStringToObject(a, "title", t->title) ||
            !cJSON_AddBoolToObject(a, "readOnlyHint", t->read_only) ||
            !cJSON_AddBoolToObject(a, "destructiveHint", t->destructive) ||
            !cJSON_AddBoolToObject(a, "idempotentHint", t->idempotent) ||
            !cJSON_AddBoolToObject(a, "openWorldHint", t->open_world))
                return NULL;
        return TAKE_PTR(o);
}

cJSON *brig_tool_list(const brig_policy *policy) {
        _cleanup_json_ cJSON *res = cJSON_CreateObject();
        cJSON *list = res ? cJSON_AddArrayToObject(res, "tools") : NULL;

        if (!list)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(tools); i++) {
                cJSON *d;
                if (policy && !brig_policy_allows_tool(policy, tools[i].name))
                        continue;
                if (!(d = brig_tool_describe(&tools[i])))
                        return NULL;
                cJSON_AddItemToArray(list, d);
        }
        return TAKE_PTR(res);
}

cJSON *brig_tool_result(const char *text, cJSON *sc, bool is_error) {
        _cleanup_json_ cJSON *res = cJSON_CreateObject(), *sc_owned = sc;
        cJSON *content = res ? cJSON_AddArrayToObject(res, "content") : NULL, *block = cJSON_CreateObject();

        if (!content || !block) {
                cJSON_Delete(block);
                return NULL;
        }
        cJSON_AddItemToArray(content, block);
        if (!cJSON_AddStringToObject(block, "type", "text") ||
            !cJSON_AddStringToObject(block, "text", text) ||
            (sc_owned && !brig_json_add(res, "structuredContent", TAKE_PTR(sc_owned))) ||
            !cJSON_AddBoolToObject(res, "isError", is_error))
                return NULL;
        return TAKE_PTR(res);
}

static void drop_nulls(cJSON *node) {
        for (cJSON *it = node ? node->child : NULL, *next; it; it = next) {
                next = it->next;
                if (cJSON_IsNull(it) && cJSON_IsObject(node))
                        cJSON_Delete(cJSON_DetachItemViaPointer(node, it));
                else
                        drop_nulls(it);
        }
}

int brig_tool_args_normalize(const cJSON *args, cJSON **ret) {
        *ret = NULL;
        if (!args)
                return 0;
        if (!(*ret = cJSON_Duplicate(args, true)))
                return -ENOMEM;
        drop_nulls(*ret);
        return 0;
}
