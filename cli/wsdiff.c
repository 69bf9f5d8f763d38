/* SPDX-License-Identifier: MIT */
/* What a one-shot command did to its workspace, for `brig policy test`: the workspace is listed before
 * and after the run and the two listings compared. Files changed and changed back in between, or changed
 * within one mtime tick with the same size, are not seen. */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli/wsdiff.h"

#define MAX_ENTRIES 100000
#define MAX_REPORTED 1000

struct brig_wslist {
        struct wsentry {
                char *path; /* relative to the workspace */
                off_t size;
                struct timespec mtime;
                mode_t type;
        } * items;
        size_t n, cap;
        bool overflow;
};

/* nftw() has no user data: the CLI is single-threaded. */
static brig_wslist *collecting;
static size_t root_len;

static int collect_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        brig_wslist *l = collecting;
        (void) flag;

        if (ftw->level == 0)
                return 0;
        if (l->n == MAX_ENTRIES) {
                l->overflow = true;
                return 1;
        }
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 256;
                struct wsentry *p = reallocarray(l->items, cap, sizeof(*p));
                if (!p)
                        return -1;
                l->items = p;
                l->cap = cap;
        }
        char *rel = strdup(path + root_len + 1);
        if (!rel)
                return -1;
        l->items[l->n++] = (struct wsentry){
                .path = rel, .size = st->st_size, .mtime = st->st_mtim, .type = st->st_mode & S_IFMT};
        return 0;
}

static int by_path(const void *a, const void *b) {
        return strcmp(((const struct wsentry *) a)->path, ((const struct wsentry *) b)->path);
}

brig_wslist *brig_wslist_take(const char *root) {
        brig_wslist *l = calloc(1, sizeof(*l));

        if (!l)
                return NULL;
        collecting = l;
        root_len = strlen(root);
        int r = nftw(root, collect_cb, 32, FTW_PHYS | FTW_MOUNT);
        collecting = NULL;
        if (r < 0) {
                brig_wslist_free(l);
                return NULL;
        }
        if (l->n > 0)
                qsort(l->items, l->n, sizeof(*l->items), by_path);
        return l;
}

void brig_wslist_free(brig_wslist *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i].path);
        free(l->items);
        free(l);
}

static const char *type_name(mode_t t) {
        return t == S_IFDIR ? "directory" : t == S_IFLNK ? "symlink" : t == S_IFREG ? "file" : "other";
}

static void emit(const char *change, const struct wsentry *e, size_t *reported, size_t *more) {
        if (*reported >= MAX_REPORTED) {
                (*more)++;
                return;
        }
        cJSON *ev = cJSON_CreateObject();
        if (!ev)
                return;
        cJSON_AddStringToObject(ev, "type", "workspace_change");
        cJSON_AddStringToObject(ev, "change", change);
        cJSON_AddStringToObject(ev, "path", e->path);
        cJSON_AddStringToObject(ev, "kind", type_name(e->type));
        if (e->type == S_IFREG && strcmp(change, "deleted") != 0)
                cJSON_AddNumberToObject(ev, "bytes", (double) e->size);
        char *s = cJSON_PrintUnformatted(ev);
        if (s)
                printf("%s\n", s);
        free(s);
        cJSON_Delete(ev);
        (*reported)++;
}

void brig_wslist_report(const brig_wslist *before, const brig_wslist *after) {
        size_t i = 0, j = 0, reported = 0, more = 0;

        if (before->overflow || after->overflow) {
                printf("{\"type\":\"workspace_change\",\"change\":\"not compared\",\"reason\":\"more than "
                       "%d "
                       "entries\"}\n",
                       MAX_ENTRIES);
                return;
        }
        while (i < before->n || j < after->n) {
                int c = i == before->n  ? 1
                        : j == after->n ? -1
                                        : strcmp(before->items[i].path, after->items[j].path);
                if (c < 0)
                        emit("deleted", &before->items[i++], &reported, &more);
                else if (c > 0)
                        emit("created", &after->items[j++], &reported, &more);
                else {
                        const struct wsentry *a = &before->items[i++], *b = &after->items[j++];
                        if (a->type != b->type ||
                            (b->type != S_IFDIR &&
                             (a->size != b->size || a->mtime.tv_sec != b->mtime.tv_sec ||
                              a->mtime.tv_nsec != b->mtime.tv_nsec)))
                                emit("modified", b, &reported, &more);
                }
        }
        if (more)
                printf("{\"type\":\"workspace_change\",\"change\":\"more\",\"count\":%zu}\n", more);
}
