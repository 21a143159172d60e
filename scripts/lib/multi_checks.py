#!/usr/bin/env python3
"""Correctness checks across instances for scripts/multi-instance.

Usage: multi_checks.py CHECK, with the settings in the environment:
  MC_INSTANCES   comma-separated base URLs, one per instance (direct, not the proxy)
  MC_CLIENT, MC_SECRET, MC_REDIRECT   a confidential client with the code, refresh and
                 client_credentials grants and skip-consent
  MC_USER, MC_PASSWORD                a seeded user (refresh-race)
  MC_DB          the PostgreSQL URL (psql reads the family and the outbox)
  MC_EMAILS      a file of seeded addresses, one a line (mail-once)
  MC_SINK        the SMTP sink's log (mail-once)
CHECK is one of:
  refresh-race   20 parallel refreshes of one refresh token, spread over the
                 instances: exactly one 200, the rest invalid_grant; then what
                 became of the family (strict reuse detection revokes it)
  revoke         revoke a client_credentials access token on instance 1 and poll
                 introspection on the others every 50 ms until each says
                 active=false; fails if any takes more than 1 s
  mail-once      one password-reset request per address, spread over the
                 instances; waits for the outbox to drain; each address must get
                 exactly one message and each Message-ID must arrive once
Prints its findings and a last line "PASS <check>: ..." or "FAIL <check>: ...";
exits 1 on FAIL.
"""
import collections
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghclient as gh  # noqa: E402

ENV = os.environ
INSTANCES = ENV.get("MC_INSTANCES", "").split(",")
AUTH = gh.basic(ENV.get("MC_CLIENT", ""), ENV.get("MC_SECRET", ""))


def psql(sql):
    out = subprocess.run(["psql", "-X", "-At", "-F", " ", ENV["MC_DB"], "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split(" ") for line in out.splitlines() if line]


def verdict(ok, check, msg):
    print(("PASS" if ok else "FAIL") + f" {check}: {msg}")
    return 0 if ok else 1


def refresh_race():
    tokens = gh.code_flow(INSTANCES[0], AUTH, ENV["MC_CLIENT"], ENV["MC_REDIRECT"], ENV["MC_USER"],
                          ENV["MC_PASSWORD"])
    presented = tokens["refresh_token"]
    n = 20
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        h = gh.Http(INSTANCES[i % len(INSTANCES)])
        h.request("GET", "/health/live")  # open the connection before the barrier
        barrier.wait()
        try:
            status, body = gh.refresh(h, AUTH, presented)
            results[i] = (i % len(INSTANCES) + 1, status, body.get("error", ""), body.get("refresh_token"))
        except gh.ConnError as err:
            results[i] = (i % len(INSTANCES) + 1, -1, str(err), None)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    by = collections.Counter((r[1], r[2]) for r in results)
    print("refresh-race: outcomes (status, error) -> count:", dict(by))
    print("refresh-race: winners by instance:", [r[0] for r in results if r[1] == 200])
    winners = [r for r in results if r[1] == 200]
    losers_ok = all(r[1] == 400 and r[2] == "invalid_grant" for r in results if r[1] != 200)
    # What the replay rule did to the family (README: strict reuse detection).
    rows = psql("select count(*), count(used_at), count(revoked_at) from refresh_tokens where family_id = "
                f"(select family_id from refresh_tokens where token_hash = encode(sha256('{presented}'::bytea), 'hex'))")
    total, used, revoked = rows[0]
    print(f"refresh-race: family after the race: {total} tokens, {used} spent, {revoked} revoked")
    if winners and winners[0][3]:
        status, body = gh.refresh(gh.Http(INSTANCES[-1]), AUTH, winners[0][3])
        print(f"refresh-race: the winner's new refresh token then answers {status} {body.get('error', 'ok')}"
              " (the losers counted as reuse and revoked the family)")
    ok = len(winners) == 1 and losers_ok
    return verdict(ok, "refresh-race", f"{len(winners)} winner(s) of {n}, the rest invalid_grant: {losers_ok}")


def revoke():
    h1 = gh.Http(INSTANCES[0])
    status, body = gh.token(h1, AUTH, {"grant_type": "client_credentials"})
    tok = body["access_token"]
    others = INSTANCES[1:] or INSTANCES
    for url in others:
        status, active = gh.introspect(gh.Http(url), AUTH, tok)
        print(f"revoke: before, {url} introspects active={active} ({status})")
    revoked_at = [None]
    seen = {}
    started = threading.Event()

    def poll(url):
        h = gh.Http(url)
        started.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, active = gh.introspect(h, AUTH, tok)
            if active is False and revoked_at[0] is not None:
                seen[url] = time.monotonic()
                return
            time.sleep(0.05)

    threads = [threading.Thread(target=poll, args=(u,)) for u in others]
    for t in threads:
        t.start()
    started.set()
    time.sleep(0.2)
    sent = time.monotonic()
    status = gh.revoke(h1, AUTH, tok)
    revoked_at[0] = time.monotonic()
    print(f"revoke: /revoke on {INSTANCES[0]} answered {status} in {(revoked_at[0] - sent) * 1000:.0f} ms")
    for t in threads:
        t.join()
    delays = {}
    for url in others:
        if url in seen:
            delays[url] = max(0.0, seen[url] - revoked_at[0]) * 1000
            print(f"revoke: {url} said active=false {delays[url]:.0f} ms after /revoke returned")
        else:
            print(f"revoke: {url} still said active=true 10 s after /revoke")
    worst = max(delays.values()) if len(delays) == len(others) else float("inf")
    return verdict(worst <= 1000, "revoke", f"slowest instance {worst:.0f} ms (limit 1000 ms)")


def mail_once():
    emails = [e.strip() for e in open(ENV["MC_EMAILS"], encoding="utf-8") if e.strip()]
    quoted = ",".join(f"'{e.lower()}'" for e in emails)
    for i, email in enumerate(emails):
        status = gh.forgot(gh.Http(INSTANCES[i % len(INSTANCES)]), email)
        if status != 200:
            print(f"mail-once: /password/forgot for {email} answered {status}")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        queued, pending = psql(f"select count(*), count(*) filter (where sent_at is null and dead_at is null) "
                               f"from outbox where lower(recipient) in ({quoted})")[0]
        if int(queued) >= len(emails) and int(pending) == 0:
            break
        time.sleep(0.5)
    print(f"mail-once: outbox rows for the {len(emails)} addresses: {queued}, still unsent: {pending}")
    time.sleep(1)
    received = [json.loads(line) for line in open(ENV["MC_SINK"], encoding="utf-8") if line.strip()]
    per_rcpt = collections.Counter(r.lower() for m in received for r in m["to"] if r.lower() in quoted)
    per_id = collections.Counter(m["message_id"] for m in received)
    ids = [row[0] for row in psql(f"select message_id from outbox where lower(recipient) in ({quoted})")]
    once = sum(1 for e in emails if per_rcpt[e.lower()] == 1)
    dup_ids = sum(1 for i in ids if per_id[i] > 1)
    missing = sum(1 for i in ids if per_id[i] == 0)
    print(f"mail-once: addresses with exactly one message: {once}/{len(emails)}; Message-IDs received twice "
          f"or more: {dup_ids}; never received: {missing}")
    ok = once == len(emails) and dup_ids == 0 and missing == 0
    return verdict(ok, "mail-once", f"{once}/{len(emails)} exactly once, {dup_ids} duplicated, {missing} missing")


if __name__ == "__main__":
    checks = {"refresh-race": refresh_race, "revoke": revoke, "mail-once": mail_once}
    try:
        sys.exit(checks[sys.argv[1]]())
    except (gh.ConnError, RuntimeError, KeyError, subprocess.CalledProcessError) as err:
        sys.exit(verdict(False, sys.argv[1], f"could not run: {err!r}"))
