/* SPDX-License-Identifier: MIT */ typedef int pp_stub_http;
