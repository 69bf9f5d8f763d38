/* SPDX-License-Identifier: MIT */
/* brigd's command line: one table of options drives getopt, parsing with bounds, and --help. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "worker/proxy.h"
#include "worker/worker.h"

/* What the command line asked for. The strings in o point into argv; the lists live here. */
typedef struct brigd_cmdline {
        brig_worker_options o;
        uid_t admin_uids[BRIG_MAX_ADMIN_UIDS];
        brig_proxy_resolve resolve[BRIG_PROXY_MAX_RESOLVE];
        bool help, version;
} brigd_cmdline;

/* Fills c from argv (c's defaults first). Returns 0, or -EINVAL after writing the reason and a hint to
 * stderr. --help and --version only set c->help and c->version. */
int brigd_cmdline_parse(brigd_cmdline *c, int argc, char **argv);

/* The --help text, written from the table. */
void brigd_cmdline_help(FILE *f);
