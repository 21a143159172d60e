#!/usr/bin/env python3
"""Tokens for scripts/bench, through the real flows over HTTP.

Signs in once with the password form, then runs the authorization-code flow
with PKCE (scope "openid email offline_access") as often as asked, and prints
one line per flow on stdout:
  access  -> the access token of one flow (for introspection and userinfo)
  refresh N -> N refresh tokens, each of its own family and never used
Env: BENCH_BASE (http://127.0.0.1:PORT), BENCH_SECRET (client secret of
client "bench"), BENCH_USERNAME, BENCH_PASSWORD.
"""
import base64
import hashlib
import http.cookiejar
import json
import os
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ["BENCH_BASE"]
SECRET = os.environ["BENCH_SECRET"]
REDIRECT = "https://bench.example/cb"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


JAR = http.cookiejar.CookieJar()
OPENER = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(JAR), NoRedirect)


def call(path, data=None, headers=None):
    req = urllib.request.Request(BASE + path, data=data, headers=headers or {})
    try:
        return OPENER.open(req)
    except urllib.error.HTTPError as err:
        return err


def sign_in():
    page = call("/login").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"username": os.environ["BENCH_USERNAME"], "password": os.environ["BENCH_PASSWORD"], "csrf_token": csrf}
    resp = call("/login", urllib.parse.urlencode(form).encode())
    if resp.status != 303:
        sys.exit(f"fixtures: sign-in answered {resp.status}, not 303")


def code_flow():
    """One authorization-code flow; the token response as a dict."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": "bench", "redirect_uri": REDIRECT,
        "scope": "openid email offline_access", "state": "s", "prompt": "consent",
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    resp = call("/authorize?" + query)
    location = resp.headers.get("Location", "")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("code")
    if not code:
        sys.exit(f"fixtures: /authorize answered {resp.status} without a code (Location: {location!r})")
    auth = base64.b64encode(f"bench:{SECRET}".encode()).decode()
    body = urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": code[0], "redirect_uri": REDIRECT, "code_verifier": verifier,
    }).encode()
    resp = call("/token", body, {"Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"})
    if resp.status != 200:
        sys.exit(f"fixtures: /token answered {resp.status}: {resp.read()[:200]!r}")
    return json.loads(resp.read())


def main():
    what = sys.argv[1]
    sign_in()
    if what == "access":
        print(code_flow()["access_token"])
    elif what == "refresh":
        for _ in range(int(sys.argv[2])):
            tokens = code_flow()
            if "refresh_token" not in tokens:
                sys.exit("fixtures: the token response has no refresh_token (client grants? offline_access?)")
            print(tokens["refresh_token"])
    else:
        sys.exit(f"fixtures: unknown request {what!r}")


if __name__ == "__main__":
    main()
