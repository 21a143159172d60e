#!/usr/bin/env python3
"""Mixed load for scripts/soak: threads talking to the proxy for SOAK_SECONDS.

Settings (environment): SOAK_BASE (the proxy's URL), SOAK_SECONDS, SOAK_CLIENT,
SOAK_SECRET, SOAK_REDIRECT, SOAK_PASSWORD, SOAK_USERS (a file of usernames for
sign-ins and code flows), SOAK_MAIL_USERS (a file of addresses; each gets one
reset request), SOAK_RECORDS (output), SOAK_PAUSE (seconds between a worker's
steps, default 0.05), SOAK_MAIL_EVERY (seconds between reset requests, 3).

Workers: 2 sign-in (GET+POST /login, keeping the device cookie), 3 code-flow
(authorize with PKCE, redeem, then each keeps its own refresh chain: refresh,
introspect the new access token; a new code flow every 10 refreshes or when
the chain is refused), 2 client_credentials (+ introspection), 1 mail
(/password/forgot for the next address). A refresh that got no answer (a 5xx
or a dropped connection: its instance was killed) is sent again once with the
same token, as a client would; if that is refused the worker starts a new
chain.

SOAK_RECORDS gets one line per request: "start end kind status served_by"
(status -1: connection error; served_by from haproxy's x-served-by, "-" when
absent), plus "refresh-token <sha256 of the presented token> <status>" lines
for the two-winners check, written when the run ends.
"""
import hashlib
import itertools
import os
import random
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ghclient as gh  # noqa: E402

ENV = os.environ
BASE = ENV["SOAK_BASE"]
END = time.time() + float(ENV.get("SOAK_SECONDS", "1200"))
PAUSE = float(ENV.get("SOAK_PAUSE", "0.05"))
AUTH = gh.basic(ENV["SOAK_CLIENT"], ENV["SOAK_SECRET"])
CLIENT, REDIRECT, PASSWORD = ENV["SOAK_CLIENT"], ENV["SOAK_REDIRECT"], ENV["SOAK_PASSWORD"]
USERS = [u.strip() for u in open(ENV["SOAK_USERS"], encoding="utf-8") if u.strip()]
MAILS = [m.strip() for m in open(ENV["SOAK_MAIL_USERS"], encoding="utf-8") if m.strip()]

lock = threading.Lock()
out = open(ENV["SOAK_RECORDS"], "w", encoding="utf-8")
refresh_outcomes = []


class Recorder:
    """Wraps an Http so that every request is recorded."""

    def __init__(self, h):
        self.h = h

    def call(self, kind, fn, *args):
        start = time.time()
        try:
            result = fn(self.h, *args)
            status = result[0] if isinstance(result, tuple) else result
        except gh.ConnError:
            result, status = None, -1
        served = getattr(self.h, "last_served", "-")
        with lock:
            out.write(f"{start:.3f} {time.time():.3f} {kind} {status} {served}\n")
        return status, result


def served_by(h):
    """Patches h.request to remember the x-served-by header of the last answer."""
    inner = h.request

    def request(*a, **k):
        h.last_served = "-"
        status, hdrs, body = inner(*a, **k)
        h.last_served = hdrs.get("x-served-by", "-")
        return status, hdrs, body

    h.request = request
    return h


def new_http():
    return served_by(gh.Http(BASE))


def signin_worker(n):
    device = {}
    users = itertools.cycle(USERS[n::2] or USERS)
    while time.time() < END:
        h = new_http()
        h.cookies.update(device)
        r = Recorder(h)
        status, _ = r.call("login", gh.sign_in, next(users), PASSWORD)
        device = {k: v for k, v in h.cookies.items() if "device" in k}
        h.close()
        time.sleep(PAUSE)


def flow_worker(n):
    user = USERS[(n + 7) % len(USERS)]
    h = new_http()
    r = Recorder(h)
    chain, spins = None, 0
    while time.time() < END:
        if chain is None or spins >= 10:
            status, res = r.call("authorize", gh.authorize, CLIENT, REDIRECT, "openid offline_access")
            code, verifier = (res[1], res[2]) if res else (None, None)
            if not code:
                r.call("login", gh.sign_in, user, PASSWORD)
                time.sleep(PAUSE)
                continue
            status, res = r.call("code", gh.redeem, AUTH, code, verifier, REDIRECT)
            chain = res[1].get("refresh_token") if status == 200 else None
            spins = 0
            time.sleep(PAUSE)
            continue
        presented = chain
        status, res = r.call("refresh", gh.refresh, AUTH, presented)
        if status == -1 or status >= 500:
            status, res = r.call("refresh_retry", gh.refresh, AUTH, presented)
        with lock:
            refresh_outcomes.append((hashlib.sha256(presented.encode()).hexdigest(), status))
        if status != 200:
            chain = None
            with lock:
                out.write(f"{time.time():.3f} {time.time():.3f} chain_restart {status} -\n")
            continue
        spins += 1
        chain = res[1].get("refresh_token")
        r.call("introspect", gh.introspect, AUTH, res[1].get("access_token", ""))
        time.sleep(PAUSE)


def cc_worker(n):
    r = Recorder(new_http())
    while time.time() < END:
        status, res = r.call("client_credentials", gh.token, AUTH, {"grant_type": "client_credentials"})
        if status == 200:
            r.call("introspect", gh.introspect, AUTH, res[1]["access_token"])
        time.sleep(PAUSE)


def mail_worker(n):
    every = float(ENV.get("SOAK_MAIL_EVERY", "3"))
    for email in MAILS:
        if time.time() >= END:
            return
        Recorder(new_http()).call("forgot", gh.forgot, email)
        time.sleep(every * random.uniform(0.5, 1.5))


def guarded(fn, n):
    """Runs a worker until the end; a bug in the driver is printed, not fatal."""
    while time.time() < END:
        try:
            fn(n)
            return
        except Exception:  # noqa: BLE001 - keep the load going, show the bug
            traceback.print_exc()
            time.sleep(1)


def main():
    plan = [signin_worker] * 2 + [flow_worker] * 3 + [cc_worker] * 2 + [mail_worker]
    threads = [threading.Thread(target=guarded, args=(fn, i), daemon=True) for i, fn in enumerate(plan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with lock:
        for digest, status in refresh_outcomes:
            out.write(f"refresh-token {digest} {status}\n")
        out.close()


if __name__ == "__main__":
    main()
