/* SPDX-License-Identifier: MIT */
/* render: the read side — /render, /render-diff, /api/apps, /labels, /label-values. */
#pragma once

#include <stdint.h>

#include "http.h"

/*
 * Each handler reads its query string through @a, queries @srv->store and fills @r (status 200
 * with a body, or 400 with a plain-text reason). Times default to from=now-1h, until=now and
 * parse as ingest_parse_time(). Returns 0 with @r filled, or -errno (the caller answers 500).
 *
 * render_handle(): query= (FlameQL, required; `name` is accepted too), from, until,
 *   format=json (default; flamebearer with metadata and timeline) | svg | folded (or collapsed)
 *   | speedscope | pprof, maxNodes (or max-nodes; json only, default 8192, 0 = all).
 * render_diff_handle(): leftQuery/leftFrom/leftUntil, rightQuery/rightFrom/rightUntil (right
 *   defaults to left), format=json ("double" flamebearer with leftTicks/rightTicks) | svg
 *   (pp_svg_write_diff, before = left, after = right; normalize=1 scales left to right's total).
 * render_apps(): JSON array of app names.
 * render_labels(): query= (optional) -> JSON array of label keys of that app (all apps without).
 * render_label_values(): label= (required, 400 without; "__name__" lists apps), query= optional.
 */
int render_handle(struct server *srv, const struct http_args *a, int64_t now_s,
                  struct http_reply *r);
int render_diff_handle(struct server *srv, const struct http_args *a, int64_t now_s,
                       struct http_reply *r);
int render_apps(struct server *srv, const struct http_args *a, struct http_reply *r);
int render_labels(struct server *srv, const struct http_args *a, struct http_reply *r);
int render_label_values(struct server *srv, const struct http_args *a, struct http_reply *r);
