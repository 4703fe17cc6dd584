-- wrk script for every benchmark run:
--   wrk -s benchmarks/wrk.lua http://127.0.0.1:PORT -- PATH MAX_ID
-- PATH is requested as is, except that "{id}" in it becomes a random id in 1..MAX_ID on every request.
-- wrk's own error count leaves out 3xx answers, so responses outside 2xx are counted here. When the run ends, one
-- line starting "WRK_RESULT " carries the figures as JSON for benchmarks/run.py.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  local path = args[1] or "/"
  max_id = tonumber(args[2] or "1")
  non_2xx = 0
  math.randomseed(os.time() * 1000 + thread_number)
  prefix, suffix = path:match("^(.-){id}(.*)$")
  if not prefix then
    fixed_request = wrk.format("GET", path)
  end
end

-- Defined at the top level, not in init: wrk decides from the main script whether requests are dynamic.
function request()
  if fixed_request then
    return fixed_request
  end
  return wrk.format("GET", prefix .. math.random(1, max_id) .. suffix)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
end

function done(summary, latency, requests)
  local non_2xx_total = 0
  for _, thread in ipairs(threads) do
    non_2xx_total = non_2xx_total + thread:get("non_2xx")
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_s": %.3f, "rps": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, '
      .. '"p99_ms": %.3f, "max_ms": %.3f, "non_2xx": %d, "socket_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, non_2xx_total, errors.connect + errors.read + errors.write, errors.timeout))
end
