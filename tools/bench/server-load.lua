-- SPDX-License-Identifier: MIT
-- wrk script for tools/bench/server-load.sh: POST a realistic 10-second pprof to /ingest.
-- Environment: BODY (pprof file), MODE = "live" (every upload in the current 10 s window,
-- spread over SERIES hosts) or "backfill" (walk 24 h of 10 s windows ending now, round robin
-- over SERIES hosts), SERIES (default 50).
local body_file = os.getenv("BODY")
local mode = os.getenv("MODE") or "live"
local series = tonumber(os.getenv("SERIES") or "50")
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()

local threads = {}
local counter = 0

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   n = 0
   nthreads = 1
   start = math.floor(os.time() / 10) * 10
end

function request()
   n = n + 1
   local i = n * 64 + tid
   local host = i % series
   local from
   if mode == "backfill" then
      from = start - 86400 + (math.floor(i / series) % 8640) * 10
   else
      from = math.floor(os.time() / 10) * 10 - 10
   end
   local path = string.format("/ingest?name=bench.cpu%%7Bhost%%3Dh%d%%7D&format=pprof&from=%d&until=%d&spyName=pyprof&sampleRate=100",
                              host, from, from + 10)
   return wrk.format("POST", path, {["Content-Type"] = "application/octet-stream"}, body)
end

function response(status, headers, b)
   if status ~= 200 then
      errors = (errors or 0) + 1
   end
end
