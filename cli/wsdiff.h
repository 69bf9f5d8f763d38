/* SPDX-License-Identifier: MIT */
#pragma once

/* Listings of a workspace before and after a one-shot run (`brig policy test`). */

typedef struct brig_wslist brig_wslist;

/* Lists every entry below root (not following symlinks or crossing mounts); NULL on failure. */
brig_wslist *brig_wslist_take(const char *root);
void brig_wslist_free(brig_wslist *l);

/* Prints one JSON line per entry created, modified or deleted between the two listings, as
 * {"type":"workspace_change","change":"created","path":"out.txt","kind":"file","bytes":12}; at most 1000,
 * then a count. */
void brig_wslist_report(const brig_wslist *before, const brig_wslist *after);
