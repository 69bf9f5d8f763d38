/* SPDX-License-Identifier: MIT */
/* brigd's command line: one table of options drives getopt, parsing with bounds, and --help. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "worker/proxy.h"
#include "worker/worker.h"

/* What the configuration file and the command line asked for. The strings in o point into argv or
 * config_text; the lists live here. */
typedef struct brigd_cmdline {
        brig_worker_options o;
        uid_t admin_uids[BRIG_MAX_ADMIN_UIDS];
        brig_proxy_resolve resolve[BRIG_PROXY_MAX_RESOLVE];
        bool help, version;
        const char *config; /* --config FILE */
        char *config_text;  /* the file read, split into its values */
} brigd_cmdline;

/* The configuration file read when no --config is given; a missing one is no error. */
#define BRIGD_DEFAULT_CONFIG BRIG_SYSCONFDIR "/brig/brigd.conf"

/* Fills c: its defaults, then the configuration file (--config FILE, which must exist, else default_config
 * when not NULL, which may be missing), then the other flags of argv, which override the file's values
 * (a repeatable option given as a flag replaces the file's list). The file has lines `option = value`,
 * option a long option without its "--", and `#` comments; each value is checked as the flag's is.
 * Returns 0, or -EINVAL (-ENOMEM, -errno of reading the file) after writing the reason to stderr, naming
 * FILE:LINE for the file. --help and --version only set c->help and c->version, and skip the file.
 * brigd_cmdline_done() frees what it read. */
int brigd_cmdline_parse(brigd_cmdline *c, int argc, char **argv, const char *default_config);
void brigd_cmdline_done(brigd_cmdline *c);

/* The --help text, written from the table. */
void brigd_cmdline_help(FILE *f);
