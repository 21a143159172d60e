# Shared helpers for scripts/cost-curve, scripts/multi-instance and
# scripts/soak (sourced, not run). They expect `set -euo pipefail`, the repo
# root as the working directory, and a temp directory in $work.
#
# gh_binary            sets $bin: BENCH_BIN if given, else a fresh `cargo build --release`
# gh_free_port         prints a free TCP port on 127.0.0.1
# gh_wait_ready URL    waits (≤ 30 s) for URL/health/ready to answer 200
# gh_no_rate_limits    exports GATEHOUSE_RATE_LIMITS__*__MAX=0 (wrk is one address standing for many)
# gh_pg_admin          the PostgreSQL admin URL (SCALE_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres)
# gh_pg_url NAME       the URL of database NAME on that server
# gh_pg_create NAME / gh_pg_drop NAME
# gh_wrk_latency ...   runs wrk --latency and prints "rps p50_ms p99_ms non2xx errors"
# gh_rss_kb PID        the process's resident set size in KiB (0 if gone)

gh_binary() {
  if [ -n "${BENCH_BIN:-}" ]; then
    bin="$BENCH_BIN"
  else
    cargo build --release --quiet
    bin="$PWD/target/release/gatehouse"
  fi
  [ -x "$bin" ] || { echo "no gatehouse binary at $bin" >&2; exit 1; }
}

gh_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

gh_wait_ready() { # $1 base URL
  for _ in $(seq 1 300); do
    curl -fsS "$1/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server at $1 did not become ready" >&2
  return 1
}

gh_no_rate_limits() {
  local b
  for b in LOGIN MFA REGISTER FORGOT TOKEN FAILED_CLIENT_AUTH_PER_CLIENT FAILED_CLIENT_AUTH_PER_ADDRESS FAILED_LOGINS; do
    export "GATEHOUSE_RATE_LIMITS__${b}__MAX=0"
  done
  export GATEHOUSE_RATE_LIMITS__FREE_FAILURES=0
}

gh_pg_admin() { echo "${SCALE_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"; }
gh_pg_url() { local a; a="$(gh_pg_admin)"; echo "${a%/*}/$1"; }
gh_pg_create() { psql -q -X "$(gh_pg_admin)" -c "create database $1" >/dev/null; }
gh_pg_drop() { psql -q -X "$(gh_pg_admin)" -c "drop database if exists $1 with (force)" >/dev/null 2>&1 || true; }

# wrk's latency distribution in milliseconds: "rps p50 p99 non2xx socket_errors".
gh_wrk_latency() {
  wrk --latency "$@" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { r = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx/ { n = $NF }
    /Socket errors/ { gsub(",", ""); e = $4 + $6 + $8 + $10 }
    END { printf "%d %.2f %.2f %d %d\n", r, p50, p99, n, e }'
}

gh_rss_kb() { awk '/VmRSS/ {print $2; f=1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

# The Python helpers import each other; keep their bytecode out of the checkout.
export PYTHONDONTWRITEBYTECODE=1
