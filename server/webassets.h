/* SPDX-License-Identifier: MIT */
/* webassets: the web page's files, compiled in by web/embed.py. */
#pragma once

#include <stddef.h>

struct web_asset {
    const char *path;          /* "/index.html", "/app.js", ... */
    const char *mime;
    const unsigned char *data;
    size_t len;
};

/* Terminated by an entry whose path is NULL. */
extern const struct web_asset web_assets[];
