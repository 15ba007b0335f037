#!/bin/sh
# SPDX-License-Identifier: MIT
# regen-proto.sh: regenerate src/proto/profile.pb-c.{c,h} from src/proto/profile.proto with
# protoc-c (Debian: protobuf-c-compiler). The generated files are committed, so building pyprof
# does not need protoc-c; run this after changing the .proto, and commit all three files.
#
# src/proto/profile.proto is a verbatim copy of pprof's proto/profile.proto as shipped by Debian's
# golang-github-google-pprof-dev (0.0~git20211008.947d60d-1), at
#     /usr/share/gocode/src/github.com/google/pprof/proto/profile.proto
# `tools/regen-proto.sh --update` copies it from there first.
#
# Usage: tools/regen-proto.sh [--update]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
upstream=/usr/share/gocode/src/github.com/google/pprof/proto/profile.proto

if [ "${1-}" = "--update" ]; then
    if [ ! -r "$upstream" ]; then
        echo "regen-proto: $upstream missing (apt-get install golang-github-google-pprof-dev)" >&2
        exit 1
    fi
    cp "$upstream" "$top/src/proto/profile.proto"
elif [ $# -ne 0 ]; then
    echo "usage: $0 [--update]" >&2
    exit 64
fi

if ! command -v protoc-c >/dev/null 2>&1; then
    echo "regen-proto: protoc-c not found (apt-get install protobuf-c-compiler)" >&2
    exit 1
fi

cd "$top/src/proto"
protoc-c --proto_path=. --c_out=. profile.proto
echo "regen-proto: wrote src/proto/profile.pb-c.c and profile.pb-c.h ($(protoc-c --version | head -n 1))"
