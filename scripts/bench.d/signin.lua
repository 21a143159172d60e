-- wrk script for scripts/bench: full password sign-ins.
-- One sign-in is GET /login (its CSRF token and cookie) then POST /login with
-- username, password and csrf_token, ending in 303. Each wrk thread keeps a
-- queue of fetched forms shared by its connections: a connection POSTs a form
-- if one is waiting, else it fetches one (a CSRF token is bound to its
-- cookie, not to the connection). Sign-ins rotate over BENCH_USERS accounts
-- named BENCH_USER_PREFIX0, 1, ... with the password BENCH_PASSWORD.
-- done() prints lines the bench parses: "signin_ok N", "signin_refused N",
-- "signin_no_form N" and "signin_per_sec X".
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  users = tonumber(os.getenv("BENCH_USERS") or "1")
  prefix = os.getenv("BENCH_USER_PREFIX") or "bench"
  password = os.getenv("BENCH_PASSWORD") or ""
  forms = {}
  turn = id
  ok, refused, no_form = 0, 0, 0
end

local function encode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  local form = table.remove(forms)
  if form == nil then
    return wrk.format("GET", "/login")
  end
  turn = turn + 1
  local body = "username=" .. encode(prefix .. (turn % users)) .. "&password=" .. encode(password)
    .. "&csrf_token=" .. encode(form.csrf)
  return wrk.format("POST", "/login", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = form.cookie,
  }, body)
end

function response(status, headers, body)
  if status == 303 then
    ok = ok + 1
  elseif status == 200 then
    local csrf = body:match('name="csrf_token" value="([^"]+)"')
    local set = headers["set-cookie"] or headers["Set-Cookie"]
    if csrf and set then
      table.insert(forms, { csrf = csrf, cookie = set:match("^([^;]+)") })
    else
      no_form = no_form + 1
    end
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local t = { ok = 0, refused = 0, no_form = 0 }
  for _, thread in ipairs(threads) do
    t.ok = t.ok + thread:get("ok")
    t.refused = t.refused + thread:get("refused")
    t.no_form = t.no_form + thread:get("no_form")
  end
  io.write(string.format("signin_ok %d\nsignin_refused %d\nsignin_no_form %d\nsignin_per_sec %.1f\n",
    t.ok, t.refused, t.no_form, t.ok / (summary.duration / 1e6)))
end
