-- wrk script for scripts/bench: refresh-token grants.
-- Every refresh rotates the token, and presenting a used one revokes its
-- family, so each request must carry a fresh token. The tokens in the file
-- BENCH_REFRESH_TOKENS (one a line, each of its own family) are dealt out to
-- the wrk threads; request() takes one out of the thread's pool, response()
-- puts the new refresh_token from the JSON body back. A thread's pool must
-- hold more tokens than its connections (at most one in flight on each).
-- BENCH_BASIC is the client's Basic credential (base64 of id:secret).
-- done() prints "refresh_ok N", "refresh_failed N", "refresh_starved N".
local threads = {}
local dealt = {}

function setup(thread)
  table.insert(threads, thread)
  local n = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
  if #dealt == 0 then
    for i = 1, n do dealt[i] = {} end
    local i = 0
    for line in io.lines(os.getenv("BENCH_REFRESH_TOKENS")) do
      table.insert(dealt[i % n + 1], line)
      i = i + 1
    end
  end
  thread:set("tokens", table.concat(dealt[#threads] or {}, " "))
end

function init(args)
  pool = {}
  for token in tokens:gmatch("%S+") do table.insert(pool, token) end
  ok, failed, starved = 0, 0, 0
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC"),
  }
end

local function encode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  local token = table.remove(pool)
  if token == nil then
    -- An empty pool is a bench bug: this request is refused and counted.
    starved = starved + 1
    token = "starved"
  end
  return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=" .. encode(token))
end

function response(status, headers, body)
  local token = status == 200 and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    ok = ok + 1
    table.insert(pool, token)
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local t = { ok = 0, failed = 0, starved = 0 }
  for _, thread in ipairs(threads) do
    t.ok = t.ok + thread:get("ok")
    t.failed = t.failed + thread:get("failed")
    t.starved = t.starved + thread:get("starved")
  end
  io.write(string.format("refresh_ok %d\nrefresh_failed %d\nrefresh_starved %d\n", t.ok, t.failed, t.starved))
end
