#!/usr/bin/env python3
"""Summary of a scripts/soak run. Usage: soak_summary.py WORKDIR DB_URL OUT_FILE

Reads from WORKDIR: records (soak_driver.py), events ("kill|start T INSTANCE PID"),
rss ("T INSTANCE PID KiB"), sink.jsonl (smtp_sink.py), meta (key=value lines).
Queries DB_URL (psql) for the outbox and the refresh families. Prints the
summary and writes it to OUT_FILE; exits 1 if a check fails.

Checks:
  5xx        every 5xx (and every connection error) must be in flight on a
             killed instance: started before the kill (at most the request
             timeout earlier) and answered at or after it, or answered within
             KILL_GRACE seconds after it (haproxy notices the death)
  mail       every outbox row (not a dead letter) arrived at the sink at least
             once; how many exactly once; a duplicate is excused only if a kill
             happened within lease_secs before its second arrival
  refresh    no family has two unspent tokens or more tokens than spends + 1
             (two successful rotations of one parent), and no presented token
             got two 200s at the driver
  memory     per process lifetime: RSS first, max, last; flat if last ≤ 1.2 ×
             the first sample at least WARMUP seconds after start
"""
import collections
import json
import os
import subprocess
import sys

work, db, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
meta = dict(line.strip().split("=", 1) for line in open(os.path.join(work, "meta")) if "=" in line)
GRACE = float(meta.get("kill_grace", "3"))
TIMEOUT = float(meta.get("request_timeout", "30"))
LEASE = float(meta.get("lease_secs", "20"))
WARMUP = float(meta.get("warmup", "60"))
lines = []


def say(text=""):
    lines.append(text)


def psql(sql):
    res = subprocess.run(["psql", "-X", "-At", "-F", "|", db, "-c", sql], check=True, capture_output=True, text=True)
    return [row.split("|") for row in res.stdout.splitlines() if row]


events = [line.split() for line in open(os.path.join(work, "events"))]
kills = [float(e[1]) for e in events if e[0] == "kill"]
records, tokens = [], []
for line in open(os.path.join(work, "records")):
    parts = line.split()
    if parts[0] == "refresh-token":
        tokens.append((parts[1], int(parts[2])))
    elif len(parts) == 5:
        records.append((float(parts[0]), float(parts[1]), parts[2], int(parts[3]), parts[4]))

failed = []
if float(meta.get("seconds", "0")) < 1200:
    say(f"NOTE: a short run ({meta.get('seconds')} s), not the 20-minute soak; its figures are a placeholder.")
say(f"soak summary: {meta.get('seconds')} s of mixed load on {meta.get('instances', 2)} instances behind haproxy, "
    f"kill -9 every {meta.get('kill_every')} s (alternating), restart after {meta.get('restart_after')} s")
say(f"binary: {meta.get('binary')}   started: {meta.get('started')}")
say(f"kills: {len(kills)}")
say()
say("== requests (status counts per kind; -1 = connection error) ==")
per_kind = collections.defaultdict(collections.Counter)
for _, _, kind, status, _ in records:
    per_kind[kind][status] += 1
for kind in sorted(per_kind):
    counts = " ".join(f"{s}:{n}" for s, n in sorted(per_kind[kind].items()))
    say(f"  {kind:<20} {sum(per_kind[kind].values()):>7}   {counts}")
total = sum(1 for r in records if r[2] != "chain_restart")
span = max((r[1] for r in records), default=0) - min((r[0] for r in records), default=0)
say(f"  all requests: {total} in {span:.0f} s ({total / span if span else 0:.0f}/s)")


def near_kill(start, end):
    """In flight on a killed instance: sent before the kill (or within GRACE after,
    before haproxy's health check noticed) and answered at or after it."""
    return any(k - TIMEOUT <= start <= k + GRACE and end >= k for k in kills)


bad = [r for r in records if r[3] >= 500 and r[2] != "chain_restart"]
conn = [r for r in records if r[3] == -1]
bad_out = [r for r in bad if not near_kill(r[0], r[1])]
conn_out = [r for r in conn if not near_kill(r[0], r[1])]
say()
say("== 5xx ==")
say(f"  5xx responses: {len(bad)}; in flight on a killed instance: {len(bad) - len(bad_out)}; "
    f"elsewhere: {len(bad_out)}")
say(f"  connection errors: {len(conn)}; around a kill: {len(conn) - len(conn_out)}; elsewhere: {len(conn_out)}")
for r in bad_out[:10]:
    say(f"    outside a kill window: t={r[0]:.3f} {r[2]} {r[3]} served by {r[4]}")
if bad_out or conn_out:
    failed.append("5xx")

# haproxy's own log ("accept-time server status termination-flags method path"):
# its 5xx per instance, and how each ended (SH: the server died before answering).
proxy_5xx = collections.Counter()
for line in open(os.path.join(work, "haproxy.log"), errors="replace"):
    parts = line.split()
    if len(parts) == 6 and parts[2].startswith("5") and parts[5] != "/health/ready":
        proxy_5xx[(parts[1], parts[2], parts[3])] += 1
say("  haproxy's 5xx by (instance, status, termination flags): "
    + (", ".join(f"{k[0]} {k[1]} {k[2]}: {n}" for k, n in sorted(proxy_5xx.items())) or "none"))

say()
say("== mail ==")
received = [json.loads(line) for line in open(os.path.join(work, "sink.jsonl")) if line.strip()]
arrivals = collections.defaultdict(list)
for m in received:
    arrivals[m["message_id"]].append(m["t"])
rows = psql("select message_id, kind, sent_at is not null, dead_at is not null from outbox")
expected = [r for r in rows if r[3] != "t"]
dead = [r for r in rows if r[3] == "t"]
unsent = [r for r in expected if r[2] != "t"]
kinds = collections.Counter(r[1] for r in expected)
at_least = [r for r in expected if arrivals.get(r[0])]
once = [r for r in expected if len(arrivals.get(r[0], [])) == 1]
dups = [r for r in expected if len(arrivals.get(r[0], [])) > 1]
excused = [r for r in dups if all(any(0 <= t - k <= LEASE + 5 for k in kills) for t in sorted(arrivals[r[0]])[1:])]
say(f"  outbox rows: {len(rows)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); dead letters: "
    f"{len(dead)}; unsent at the end: {len(unsent)}")
say(f"  arrived at least once: {len(at_least)}/{len(expected)}; exactly once: {len(once)}; more than once: "
    f"{len(dups)} (of which {len(excused)} within lease_secs of a kill: the sender died mid-send)")
unknown = [mid for mid in arrivals if mid not in {r[0] for r in rows}]
if unknown:
    say(f"  messages at the sink that no outbox row names: {len(unknown)}")
if len(at_least) != len(expected) or len(excused) != len(dups):
    failed.append("mail")

say()
say("== refresh families ==")
fam = psql("select count(distinct family_id), count(*), count(used_at), count(revoked_at) from refresh_tokens")[0]
say(f"  families: {fam[0]}; tokens: {fam[1]}; spent: {fam[2]}; revoked: {fam[3]}")
two = psql("select family_id, count(*), count(used_at), count(*) - count(used_at) from refresh_tokens "
           "group by family_id having count(*) - count(used_at) > 1 or count(*) > count(used_at) + 1")
say(f"  families with two live heads or more tokens than spends + 1 (two winners from one parent): {len(two)}")
won = collections.Counter(d for d, s in tokens if s == 200)
twice = [d for d, n in won.items() if n > 1]
say(f"  refresh tokens the driver saw accepted twice: {len(twice)} (of {len(won)} accepted)")
restarts = per_kind["chain_restart"]
say(f"  chains restarted (a refresh refused, e.g. its answer lost in a kill and the retry counted as reuse): "
    f"{sum(restarts.values())}")
if two or twice:
    failed.append("refresh")

say()
say(f"== memory (RSS in MB, sampled every 10 s; flat = last ≤ 1.2 × the value {WARMUP:.0f} s after start) ==")
rss = collections.defaultdict(list)
for line in open(os.path.join(work, "rss")):
    t, inst, pid, kb = line.split()
    rss[(inst, pid)].append((float(t), int(kb)))
mem_bad = False
for (inst, pid), samples in sorted(rss.items(), key=lambda kv: kv[1][0][0]):
    samples = [s for s in samples if s[1] > 0]
    if not samples:
        continue
    first, last = samples[0], samples[-1]
    peak = max(kb for _, kb in samples)
    warm = next((kb for t, kb in samples if t - first[0] >= WARMUP), None)
    life = last[0] - first[0]
    if warm is None:
        verdict = "too short to judge"
    elif last[1] <= 1.2 * warm:
        verdict = "flat"
    else:
        verdict, mem_bad = "GROWING", True
    warm_txt = f"{warm / 1024:.1f}" if warm else "-"
    say(f"  instance {inst} pid {pid:>7}: {life:5.0f} s, first {first[1] / 1024:5.1f}, after warm-up {warm_txt:>5}, "
        f"max {peak / 1024:5.1f}, last {last[1] / 1024:5.1f}  {verdict}")
if mem_bad:
    failed.append("memory")

say()
say("== verdict ==")
for name in ("5xx", "mail", "refresh", "memory"):
    say(f"  {'FAIL' if name in failed else 'PASS'} {name}")
text = "\n".join(lines) + "\n"
sys.stdout.write(text)
with open(out_path, "w", encoding="utf-8") as f:
    f.write(text)
sys.exit(1 if failed else 0)
