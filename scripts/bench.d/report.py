#!/usr/bin/env python3
"""Parsing and the table for scripts/bench.

  report.py wrk KEY FILE      wrk output -> fact lines "KEY.rps 123.4" (also
                              .p50 .p99 in ms, .errors) on stdout
  report.py table FACTS CONNS [MARKDOWN_OUT [CAPTION]]
                              the facts file -> the table on stdout, and as
                              markdown (CAPTION above it) into MARKDOWN_OUT
                              when given; exit 1 if any load had errors

FACTS holds one "key value..." a line; a key given twice (a reference
measured before and after the loads) keeps every sample, and the table uses
their mean. Errors are non-2xx/3xx answers, socket errors and the failures the
lua scripts count (refused sign-ins, refreshes without a new token).
"""
import re
import sys
from collections import defaultdict

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNIT_MS[m.group(2)] if m else float("nan")


def parse_wrk(key, path):
    text = open(path).read()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50(?:\.000)?%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99(?:\.000)?%\s+(\S+)", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = int(non2xx.group(1)) if non2xx else 0
    bad_status = errors
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    lua = dict(re.findall(r"^(\w+) ([\d.]+)$", text, re.M))
    # A refused sign-in is already a non-2xx answer; a page without a form is not.
    errors += int(lua.get("signin_no_form", 0))
    # A failed refresh is a non-2xx answer (counted above), a 3xx, or a 200 without a new token.
    errors += max(0, int(lua.get("refresh_failed", 0)) - bad_status)
    errors += int(lua.get("refresh_starved", 0))
    if rps is None:
        errors += 1
    # For sign-ins the rate is completed sign-ins (GET+POST pairs), not requests.
    rate = float(lua["signin_per_sec"]) if "signin_per_sec" in lua else float(rps.group(1)) if rps else 0.0
    print(f"{key}.rps {rate}")
    print(f"{key}.p50 {to_ms(p50.group(1)) if p50 else 'nan'}")
    print(f"{key}.p99 {to_ms(p99.group(1)) if p99 else 'nan'}")
    print(f"{key}.errors {errors}")


def load(path):
    facts = defaultdict(list)
    for line in open(path):
        key, _, value = line.rstrip("\n").partition(" ")
        if key:
            facts[key].append(value)
    return facts


class Table:
    def __init__(self, facts):
        self.facts = facts
        self.rows = []

    def num(self, key):
        """Mean of a fact's samples, or None when it was not measured."""
        values = [float(v) for v in self.facts.get(key, []) if v not in ("", "nan")]
        return sum(values) / len(values) if values else None

    def samples(self, key):
        return " / ".join(fmt(float(v)) for v in self.facts.get(key, []))

    def reference(self, what, conns, key, note=""):
        value = self.num(key)
        n = len(self.facts.get(key, []))
        detail = f"mean of {self.samples(key)} (before / after)" if n > 1 else note
        self.rows.append([what, conns, fmt(value), "", "", detail, "", "", "", ""])

    def load(self, what, conns, key, ref=None, ref_name="", target=None):
        rps = self.num(f"{key}.rps")
        ref_value = self.num(ref) if ref else None
        ratio = rps / ref_value if rps is not None and ref_value else None
        met = "" if target is None or ratio is None else ("yes" if ratio >= target else "NO")
        self.rows.append([
            what, conns, fmt(rps), ms(self.num(f"{key}.p50")), ms(self.num(f"{key}.p99")),
            f"{ref_name} {fmt(ref_value)}" if ref else "", f"{ratio:.2f}x" if ratio is not None else "",
            f">= {target}x" if target is not None else "", met, self.facts.get(f"{key}.errors", ["?"])[0],
        ])

    def rss(self, what, key, limit):
        kb = self.num(key)
        mb = kb / 1024 if kb is not None else None
        met = "" if mb is None else ("yes" if mb < limit else "NO")
        self.rows.append([what, "", f"{mb:.1f} MB" if mb is not None else "", "", "", "", "", f"< {limit} MB", met, ""])


def fmt(value):
    if value is None:
        return "n/a"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def ms(value):
    if value is None:
        return ""
    return f"{value:.2f} ms" if value < 100 else f"{value:,.0f} ms"


HEADER = ["what", "conns", "req/s", "p50", "p99", "reference", "ratio", "target", "met?", "errors"]


def build(facts, conns):
    t = Table(facts)
    t.reference("ref: openssl RSA-2048 sign/s (wall clock), 1 core", "", "openssl.1")
    t.reference("ref: openssl RSA-2048 sign/s (wall clock), -multi 2", "", "openssl.2")
    t.reference("ref: Argon2id checks/s, 1 thread", "", "argon2.1")
    t.reference("ref: Argon2id checks/s, 2 threads", "", "argon2.2")
    for c in conns:
        t.load("ref: nginx, discovery bytes", c, f"nginx.discovery.{c}")
        t.load("ref: nginx, JWKS bytes", c, f"nginx.jwks.{c}")
    for c in conns:
        # The token and sign-in targets apply at 32 connections (the hash and sign pools saturated).
        t.load("discovery", c, f"discovery.{c}", f"nginx.discovery.{c}.rps", "nginx", 0.5)
        t.load("JWKS", c, f"jwks.{c}", f"nginx.jwks.{c}.rps", "nginx", 0.5)
        t.load("token, client_credentials", c, f"cc.{c}", "openssl.2", "RS256 2 cores", 0.9 if c == 32 else None)
        t.load("introspection", c, f"introspect.{c}", f"discovery.{c}.rps", "discovery", 0.5)
        t.load("userinfo", c, f"userinfo.{c}", f"discovery.{c}.rps", "discovery", 0.5)
        t.load("token, refresh_token", c, f"refresh.{c}", "openssl.2", "RS256 2 cores")
        t.load("password sign-in (GET+POST)/s", c, f"signin.{c}", "argon2.2", "Argon2id 2 threads",
               0.9 if c == 32 else None)
    t.load("discovery alone", 2, "discovery.alone")
    t.load("discovery during sign-ins (32 conns)", 2, "discovery.busy", "discovery.alone.rps", "alone", 0.9)
    t.load("  the sign-ins meanwhile (GET+POST)/s", 32, "signin.busy", "argon2.2", "Argon2id 2 threads")
    t.rss("RSS idle, after start", "rss.idle", 25)
    t.rss("RSS peak under load (VmHWM)", "rss.peak", 60)
    return t.rows


def render_text(rows):
    rows = [HEADER] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = []
    for n, r in enumerate(rows):
        cells = [r[i].ljust(widths[i]) if i in (0, 5, 7) else r[i].rjust(widths[i]) for i in range(len(r))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows):
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def main():
    if sys.argv[1] == "wrk":
        parse_wrk(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "table":
        facts = load(sys.argv[2])
        conns = [int(c) for c in sys.argv[3].split()]
        rows = build(facts, conns)
        print(render_text(rows))
        if len(sys.argv) > 4 and sys.argv[4]:
            caption = sys.argv[5] + "\n\n" if len(sys.argv) > 5 else ""
            with open(sys.argv[4], "w") as out:
                out.write(caption + render_markdown(rows) + "\n")
        total = sum(int(r[9]) for r in rows if str(r[9]).isdigit())
        unknown = sum(1 for r in rows if r[9] == "?")
        print(f"errors in all loads: {total}" + (f" ({unknown} load(s) missing)" if unknown else ""))
        sys.exit(1 if total or unknown else 0)
    else:
        sys.exit(f"report.py: unknown command {sys.argv[1]!r}")


if __name__ == "__main__":
    main()
