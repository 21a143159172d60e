"""HTTP helpers for the scale scripts (imported by multi_checks.py and
soak_driver.py): a keep-alive client with a cookie jar, and the flows the
checks need (sign-in, code flow with PKCE, refresh, client_credentials,
introspection, revocation, password-reset request). Standard library only;
talks to public endpoints only.
"""
import base64
import hashlib
import http.client
import json
import re
import secrets
import urllib.parse

CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')


class ConnError(Exception):
    """The connection failed before a response arrived (refused, reset, timeout)."""


class Http:
    """One keep-alive connection to one base URL, with cookies kept by name."""

    def __init__(self, base, timeout=15):
        u = urllib.parse.urlparse(base)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.conn = None
        self.cookies = {}

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, form=None, headers=None):
        """Returns (status, headers with lower-case names, body bytes); raises ConnError."""
        h = dict(headers or {})
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=h)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as err:
            self.close()
            raise ConnError(repr(err)) from err
        hdrs = {}
        for k, v in resp.getheaders():
            k = k.lower()
            if k == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                if value == "" or "max-age=0" in v.lower():
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
            hdrs[k] = v
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return resp.status, hdrs, data


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def csrf_of(body):
    m = CSRF.search(body)
    return m.group(1).decode() if m else ""


def sign_in(h, username, password):
    """GET /login then POST it; returns the POST's status (303 on success)."""
    status, _, body = h.request("GET", "/login")
    if status != 200:
        return status
    form = {"username": username, "password": password, "csrf_token": csrf_of(body)}
    return h.request("POST", "/login", form)[0]


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(h, client_id, redirect_uri, scope):
    """GET /authorize with PKCE for a signed-in `h`; returns (status, code or None, verifier)."""
    verifier, challenge = pkce()
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
        "state": secrets.token_urlsafe(8), "code_challenge": challenge, "code_challenge_method": "S256",
    })
    status, hdrs, _ = h.request("GET", "/authorize?" + q)
    loc = hdrs.get("location", "")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query).get("code", [None])[0]
    return status, code, verifier


def token(h, auth, form):
    """POST /token; returns (status, parsed JSON or {})."""
    status, _, body = h.request("POST", "/token", form, auth)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {}


def redeem(h, auth, code, verifier, redirect_uri):
    return token(h, auth, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                           "code_verifier": verifier})


def refresh(h, auth, refresh_token):
    return token(h, auth, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def introspect(h, auth, tok):
    """POST /introspect; returns (status, active or None)."""
    status, _, body = h.request("POST", "/introspect", {"token": tok}, auth)
    try:
        return status, bool(json.loads(body).get("active"))
    except ValueError:
        return status, None


def revoke(h, auth, tok):
    return h.request("POST", "/revoke", {"token": tok}, auth)[0]


def forgot(h, email):
    """GET and POST /password/forgot; returns the POST's status (200)."""
    status, _, body = h.request("GET", "/password/forgot")
    if status != 200:
        return status
    return h.request("POST", "/password/forgot", {"email": email, "csrf_token": csrf_of(body)})[0]


def code_flow(base, auth, client_id, redirect_uri, username, password, scope="openid offline_access"):
    """Sign in, authorize, redeem; returns the token response (raises on failure)."""
    h = Http(base)
    status = sign_in(h, username, password)
    if status != 303:
        raise RuntimeError(f"sign-in answered {status}")
    status, code, verifier = authorize(h, client_id, redirect_uri, scope)
    if not code:
        raise RuntimeError(f"authorize answered {status} without a code")
    status, tokens = redeem(h, auth, code, verifier, redirect_uri)
    if status != 200:
        raise RuntimeError(f"code redemption answered {status}: {tokens}")
    h.close()
    return tokens
