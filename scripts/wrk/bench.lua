-- wrk script for scripts/bench_load.py: paced or flat-out requests, contract bodies, and a
-- `done` hook that prints one line "BENCH-JSON {...}" with the figures and every status seen.
--
--   wrk -t2 -c32 -d15s -s scripts/wrk/bench.lua URL -- [token=T] [rate=R] [contracts=FILE]
--
--   token=T        send "Authorization: Bearer T" with every request
--   rate=R         this thread's connections together start R requests a second, on a fixed
--                  schedule (wrk2's constant arrival rate): a slow answer shortens the wait
--                  before the next start instead of adding to it, and a start that is already
--                  late goes at once; so the rate offered is R as long as the thread has a
--                  free connection (each has one request at a time)
--   contracts=FILE POST a new contract to URL's path per request; FILE has one member a line,
--                  "token<TAB>seller_uscc<TAB>buyer_uscc"; each request carries its own
--                  Idempotency-Key (unique per run, thread and request)

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local timeval = ffi.new("bench_timeval")

local function now_ms()
  ffi.C.gettimeofday(timeval, nil)
  return tonumber(timeval.tv_sec) * 1000 + tonumber(timeval.tv_usec) / 1000
end

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  local opts = {}
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k then opts[k] = v end
  end
  if opts.token then
    wrk.headers["Authorization"] = "Bearer " .. opts.token
  end
  if opts.rate then
    local interval = 1000 / tonumber(opts.rate)  -- ms between two starts on this thread
    local next_start = nil
    delay = function()  -- called after each answer: wait for the next start of the schedule
      local now = now_ms()
      next_start = next_start or now
      local wait = next_start - now
      next_start = next_start + interval
      return wait > 0 and wait or 0
    end
  end
  if opts.contracts then
    members = {}
    for line in io.lines(opts.contracts) do
      local t, s, b = line:match("^(%S+)\t(%S+)\t(%S+)$")
      if t then members[#members + 1] = {t, s, b} end
    end
    local id = tid or 0
    math.randomseed(os.time() * 1000 + id)
    prefix = string.format("wrk-%d-%d-%06d", os.time(), id, math.random(0, 999999))
    seq = 0
  end
end

function request()
  if not members then
    return wrk.request()
  end
  seq = seq + 1
  local m = members[(seq + (tid or 0)) % #members + 1]
  local total = math.random(10000, 5000000)
  local key = prefix .. "-" .. seq
  local body = string.format(
    '{"type":"development_commissioned","title":"压测合同 %s","field":"electronic_information",' ..
    '"seller_uscc":"%s","buyer_uscc":"%s","total_amount":"%d.00",' ..
    '"technical_amount":"%d.00","signed_on":"2025-06-01"}',
    key, m[2], m[3], total, math.floor(total * 9 / 10))
  return wrk.format("POST", wrk.path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. m[1],
    ["Idempotency-Key"] = key,
  }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local seen = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do seen[code] = (seen[code] or 0) + n end
    end
  end
  local parts = {}
  for code, n in pairs(seen) do parts[#parts + 1] = string.format('"%s":%d', code, n) end
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests":%d,"duration_s":%.3f,"requests_per_s":%.1f,' ..
    '"latency_ms":{"p50":%.2f,"p90":%.2f,"p99":%.2f,"max":%.2f,"mean":%.2f},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"statuses":{%s}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")))
end
