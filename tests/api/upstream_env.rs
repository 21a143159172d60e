//! Fixtures for the upstream sign-in tests: two gatehouse instances (the
//! upstream OpenID provider on `127.0.0.1`, the one under test on
//! `localhost`, so their cookies stay apart in one browser), a browser that
//! follows redirects by hand across both, a relying party at the downstream,
//! and a little HTML reading (forms and links).
use gatehouse::config::{UpstreamConfig, UpstreamKind};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::helpers::{TestApp, free_port, location, set_cookie, spawn_app, spawn_app_on_localhost, spawn_app_with};
use crate::oidc;
use crate::token_proxy::TokenProxy;

/// The downstream's client id at the upstream.
pub const CLIENT_ID: &str = "downstream";

/// An upstream gatehouse, and the gatehouse under test configured with it as
/// `[upstream.corp]` ("Corp SSO").
pub struct Corp {
    pub up: TestApp,
    pub down: TestApp,
    /// The upstream's public address (the proxy's, when there is one).
    pub issuer: String,
    pub callback: String,
    pub proxy: Option<TokenProxy>,
}

pub struct Options {
    /// The upstream client skips consent (false for the "user denies" test).
    pub skip_consent: bool,
    /// Put a tampering proxy in front of the upstream.
    pub proxy: bool,
    /// The downstream's `password.max_age_days` (0: passwords never expire).
    pub password_max_age_days: u32,
    /// The downstream's `[registration]` section.
    pub registration: gatehouse::config::RegistrationConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self { skip_consent: true, proxy: false, password_max_age_days: 0, registration: Default::default() }
    }
}

/// A `[upstream.<id>]` table with every optional field empty.
pub fn upstream_config(kind: UpstreamKind, display_name: &str, client_id: &str, secret: &str) -> UpstreamConfig {
    UpstreamConfig {
        kind,
        display_name: Some(display_name.into()),
        client_id: client_id.into(),
        client_secret: Some(SecretString::from(secret.to_owned())),
        client_secret_file: None,
        issuer: None,
        authorization_url: None,
        token_url: None,
        userinfo_url: None,
        scopes: None,
        subject_claim: None,
        email_claim: None,
        email_verified_claim: None,
        name_claim: None,
        username_claim: None,
        trust_email: false,
    }
}

/// Registers a confidential client at the upstream; returns its secret.
pub async fn register_client(up: &TestApp, id: &str, redirect_uri: &str, skip_consent: bool) -> String {
    let registered = up
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: id.into(),
            name: format!("{id} app"),
            redirect_uris: vec![redirect_uri.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            skip_consent,
            ..Default::default()
        })
        .await
        .unwrap();
    registered.generated_secret.unwrap().expose_secret().to_owned()
}

impl Corp {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// Order matters: the upstream first (its address goes into the
    /// downstream's config), then the downstream's port (its callback URL is
    /// registered at the upstream), then the downstream.
    pub async fn start_with(options: Options) -> Self {
        let (up, proxy) = if options.proxy {
            let proxy = TokenProxy::start().await;
            let public = proxy.base.clone();
            let up = spawn_app_with(|c| c.issuer = Some(public.parse().unwrap())).await;
            proxy.forward_to(&up.base);
            (up, Some(proxy))
        } else {
            (spawn_app().await, None)
        };
        let issuer = proxy.as_ref().map_or_else(|| up.base.clone(), |p| p.base.clone());
        let port = free_port();
        let callback = format!("http://localhost:{port}/login/corp/callback");
        let secret = register_client(&up, CLIENT_ID, &callback, options.skip_consent).await;
        let mut corp = upstream_config(UpstreamKind::Oidc, "Corp SSO", CLIENT_ID, &secret);
        // Parsed the way a config file's `issuer = "http://…"` is.
        corp.issuer = Some(issuer.parse().unwrap());
        let down = spawn_app_on_localhost(port, |c| {
            c.upstream.insert("corp".into(), corp);
            c.password.max_age_days = options.password_max_age_days;
            c.registration = options.registration;
        })
        .await;
        Self { up, down, issuer, callback, proxy }
    }

    /// `GET /login/corp?next=…` at the downstream: checks the binding cookie
    /// and returns the authorization URL at the upstream.
    pub async fn begin(&self, browser: &reqwest::Client, next: &str) -> Url {
        let start = format!("/login/corp?next={}", enc(next));
        let res = browser.get(self.down.url(&start)).send().await.unwrap();
        assert_eq!(res.status(), 303, "GET {start}");
        check_binding_cookie(&res);
        let to = Url::parse(location(&res)).unwrap();
        assert!(to.as_str().starts_with(&self.issuer), "{to} is at the upstream {}", self.issuer);
        to
    }

    /// Follows the authorization URL at the upstream (signed in there, consent
    /// skipped) until it sends the browser back; returns the callback URL.
    pub async fn at_upstream(&self, browser: &reqwest::Client, authorize: &Url) -> Url {
        let (res, chain) = follow(browser, authorize.as_str(), |u| self.is_callback(u)).await;
        let back = chain.last().cloned().unwrap_or_else(|| authorize.clone());
        assert!(self.is_callback(&back), "the upstream did not send the browser back: {} {chain:?}", res.status());
        back
    }

    pub fn is_callback(&self, url: &Url) -> bool {
        url.as_str().starts_with(&self.callback)
    }

    /// The whole round trip: `/login/corp`, the upstream, the callback.
    /// Returns the callback's answer.
    pub async fn sign_in(&self, browser: &reqwest::Client, next: &str) -> reqwest::Response {
        let authorize = self.begin(browser, next).await;
        let back = self.at_upstream(browser, &authorize).await;
        browser.get(back).send().await.unwrap()
    }

    /// A new browser signed in at the upstream as `name`, and then at the
    /// downstream through Corp SSO; asserts it landed on `/account` signed in.
    pub async fn signed_in_via_corp(&self, name: &str) -> reqwest::Client {
        let browser = self.upstream_user_browser(name).await;
        let res = self.sign_in(&browser, "/account").await;
        assert_eq!(res.status(), 303, "upstream sign-in of {name}: {}", res.text().await.unwrap());
        assert_eq!(location(&res), "/account");
        assert!(set_cookie(&res, "gh_session").is_some(), "a session");
        browser
    }

    /// A fresh browser signed in at the upstream as `name` (created there
    /// first if new: email `<name>@example.com`, verified).
    pub async fn upstream_user_browser(&self, name: &str) -> reqwest::Client {
        self.sign_in_upstream(self.up.browser(), name).await
    }

    /// Signs `browser` in at the upstream as `name` (created there if new).
    pub async fn sign_in_upstream(&self, browser: reqwest::Client, name: &str) -> reqwest::Client {
        if self.up.state.accounts.find(name).await.is_err() {
            self.up.create_user(name, &[]).await;
        }
        let res = self.up.login(&browser, name, crate::helpers::PASSWORD).await;
        assert_eq!(res.status(), 303, "sign-in of {name} at the upstream");
        browser
    }
}

/// The `gh_upstream` cookie: HttpOnly, SameSite=Lax, at most 10 minutes.
pub fn check_binding_cookie(res: &reqwest::Response) {
    let cookie = set_cookie(res, "gh_upstream").expect("the flow is bound to the browser by gh_upstream").to_owned();
    let lower = cookie.to_ascii_lowercase();
    assert!(lower.contains("httponly"), "{cookie}");
    assert!(lower.contains("samesite=lax"), "{cookie}");
    let max_age = lower.split(';').find_map(|a| a.trim().strip_prefix("max-age=").map(|v| v.parse::<i64>().unwrap()));
    assert!(max_age.is_some_and(|m| m > 0 && m <= 600), "{cookie}");
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn param(url: &Url, name: &str) -> Option<String> {
    oidc::param(url, name)
}

/// `url` with query parameter `name` set to `value` (others kept in order).
pub fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| if k == name { (k.into_owned(), value.to_owned()) } else { (k.into_owned(), v.into_owned()) })
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

/// Follows redirects by hand (GET, up to 20 hops) until an answer is not a
/// redirect or its Location satisfies `stop`. Returns the last answer and
/// every Location seen, made absolute.
pub async fn follow(
    browser: &reqwest::Client,
    start: &str,
    stop: impl Fn(&Url) -> bool,
) -> (reqwest::Response, Vec<Url>) {
    let mut at = Url::parse(start).unwrap();
    let mut chain = Vec::new();
    for _ in 0..20 {
        let res = browser.get(at.clone()).send().await.unwrap();
        if !res.status().is_redirection() {
            return (res, chain);
        }
        let next = at.join(location(&res)).unwrap();
        chain.push(next.clone());
        if stop(&next) {
            return (res, chain);
        }
        at = next;
    }
    panic!("more than 20 redirects: {chain:?}");
}

/// True when `browser` has a session at `app` (`/account` answers 200).
pub async fn signed_in_at(app: &TestApp, browser: &reqwest::Client) -> bool {
    let res = browser.get(app.url("/account")).send().await.unwrap();
    match res.status().as_u16() {
        200 => true,
        303 => {
            assert!(location(&res).starts_with("/login"), "{}", location(&res));
            false
        }
        other => panic!("/account answered {other}"),
    }
}

/// The `/account` page's HTML.
pub async fn account_page(app: &TestApp, browser: &reqwest::Client) -> String {
    // Linking moved to its own account section (issue 17).
    let res = browser.get(app.url("/account/providers")).send().await.unwrap();
    assert_eq!(res.status(), 200, "signed in");
    res.text().await.unwrap()
}

// ---- HTML ---------------------------------------------------------------

/// Decodes the entities askama (and hand-written templates) use.
pub fn unescape(s: &str) -> String {
    s.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in one tag's text (`<input …>`).
fn attr(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    loop {
        let i = rest.find(&format!("{name}="))?;
        let before = rest[..i].chars().last();
        rest = &rest[i + name.len() + 1..];
        if before.is_some_and(char::is_whitespace) {
            let quote = rest.chars().next()?;
            if quote == '"' || quote == '\'' {
                let end = rest[1..].find(quote)?;
                return Some(unescape(&rest[1..1 + end]));
            }
            let end = rest.find(|c: char| c.is_whitespace() || c == '>').unwrap_or(rest.len());
            return Some(unescape(&rest[..end]));
        }
    }
}

/// One `<form>`: where it posts and its hidden fields.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub hidden: Vec<(String, String)>,
}

/// Every form on the page.
pub fn forms(html: &str) -> Vec<Form> {
    html.split("<form")
        .skip(1)
        .map(|chunk| {
            let open = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
            let body = &chunk[..chunk.find("</form>").unwrap_or(chunk.len())];
            let hidden = body
                .split("<input")
                .skip(1)
                .filter_map(|t| {
                    let tag = &t[..t.find('>').unwrap_or(t.len())];
                    (attr(tag, "type").as_deref() == Some("hidden")).then(|| (attr(tag, "name"), attr(tag, "value")))
                })
                .filter_map(|(n, v)| Some((n?, v.unwrap_or_default())))
                .collect();
            Form {
                action: attr(open, "action").unwrap_or_default(),
                method: attr(open, "method").unwrap_or_else(|| "get".into()).to_ascii_lowercase(),
                hidden,
            }
        })
        .collect()
}

/// The form on the page that posts to `action`, if there is one.
pub fn form_to(html: &str, action: &str) -> Option<Form> {
    forms(html).into_iter().find(|f| f.action == action && f.method == "post")
}

/// Posts `form` (its hidden fields plus `extra`) as a browser would.
pub async fn submit(
    app: &TestApp,
    browser: &reqwest::Client,
    form: &Form,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields: Vec<(String, String)> = form.hidden.clone();
    for (k, v) in extra {
        fields.retain(|(name, _)| name != k);
        fields.push(((*k).to_owned(), (*v).to_owned()));
    }
    let action = Url::parse(&app.url("/")).unwrap().join(&form.action).unwrap();
    browser.post(action).form(&fields).send().await.unwrap()
}

/// Loads `page` and posts its form to `action`.
pub async fn submit_on(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    action: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let html = browser.get(app.url(page)).send().await.unwrap().text().await.unwrap();
    let form = form_to(&html, action).unwrap_or_else(|| panic!("no form posting to {action} on {page}: {html}"));
    submit(app, browser, &form, extra).await
}

/// Every link on the page: (href, text without tags).
pub fn links(html: &str) -> Vec<(String, String)> {
    html.split("<a")
        .skip(1)
        .filter(|chunk| chunk.starts_with(char::is_whitespace))
        .filter_map(|chunk| {
            let open_end = chunk.find('>')?;
            let href = attr(&chunk[..open_end], "href")?;
            let inner = &chunk[open_end + 1..chunk.find("</a>")?];
            let mut text = String::new();
            let mut in_tag = false;
            for c in inner.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            Some((href, unescape(text.split_whitespace().collect::<Vec<_>>().join(" ").as_str())))
        })
        .collect()
}

// ---- A relying party at the downstream ----------------------------------

pub type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// An app (client `rp`) signing users in at `app` with the `openidconnect`
/// crate, which checks the ID token (signature through JWKS, iss, aud, nonce,
/// exp) itself.
pub struct Rp {
    pub client: Client,
}

/// One started RP sign-in.
pub struct RpFlow {
    pub url: Url,
    csrf: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

impl Rp {
    pub async fn new(app: &TestApp) -> Self {
        let secret = oidc::register(app, "rp", true).await;
        let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &oidc::http())
            .await
            .unwrap();
        let client =
            CoreClient::from_provider_metadata(meta, ClientId::new("rp".into()), Some(ClientSecret::new(secret)))
                .set_redirect_uri(RedirectUrl::new(oidc::REDIRECT.into()).unwrap());
        Self { client }
    }

    pub fn start(&self) -> RpFlow {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        RpFlow { url, csrf, nonce, verifier }
    }

    /// Redeems the code the browser came back with; returns the verified ID
    /// token claims and the userinfo answer.
    pub async fn finish(&self, flow: RpFlow, back: &Url) -> (CoreIdTokenClaims, CoreUserInfoClaims) {
        assert!(back.as_str().starts_with(oidc::REDIRECT), "back at the RP: {back}");
        assert_eq!(param(back, "state").as_deref(), Some(flow.csrf.secret().as_str()));
        let code = param(back, "code").unwrap_or_else(|| panic!("a code: {back}"));
        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(flow.verifier)
            .request_async(&oidc::http())
            .await
            .unwrap();
        let claims = tokens
            .id_token()
            .expect("an ID token")
            .claims(&self.client.id_token_verifier(), &flow.nonce)
            .expect("the downstream's ID token verifies")
            .clone();
        let info: CoreUserInfoClaims = self
            .client
            .user_info(openidconnect::OAuth2TokenResponse::access_token(&tokens).clone(), None)
            .unwrap()
            .request_async(&oidc::http())
            .await
            .unwrap();
        (claims, info)
    }
}

/// An app's sign-in that goes through the link named `link_text` on the
/// downstream's sign-in page; returns the verified ID token claims and userinfo.
pub async fn rp_sign_in(
    rp: &Rp,
    browser: &reqwest::Client,
    link_text: &str,
) -> (CoreIdTokenClaims, CoreUserInfoClaims) {
    let flow = rp.start();
    let (res, chain) = follow(browser, flow.url.as_str(), |_| false).await;
    assert_eq!(res.status(), 200, "the sign-in page: {chain:?}");
    let page = chain.last().cloned().unwrap_or_else(|| flow.url.clone());
    let html = res.text().await.unwrap();
    let href = links(&html)
        .into_iter()
        .find(|(_, text)| text == link_text)
        .map(|(href, _)| href)
        .unwrap_or_else(|| panic!("no {link_text:?} link on {page}: {html}"));
    let start = page.join(&href).unwrap();
    let (res, chain) = follow(browser, start.as_str(), |u| u.as_str().starts_with(oidc::REDIRECT)).await;
    let back = chain.last().filter(|u| u.as_str().starts_with(oidc::REDIRECT)).cloned();
    let Some(back) = back else {
        let status = res.status();
        panic!("never back at the app: {status} {chain:?} {}", res.text().await.unwrap());
    };
    rp.finish(flow, &back).await
}

/// The `amr` values of an ID token.
pub fn amr(claims: &CoreIdTokenClaims) -> Vec<String> {
    claims.auth_method_refs().map(|v| v.iter().map(|a| a.to_string()).collect()).unwrap_or_default()
}
