//! The account centre (`/account` and its sections): the section
//! navigation every account page shares ([`AccountNav`], the layout
//! `templates/account/layout.html`), and the section pages built from the
//! account overview: Overview, Profile, Email, Password, Sessions and
//! devices, Linked sign-in, Security activity. The forms they post to are in
//! `account_forms.rs`; connected apps, the data export and deletion in
//! `account_data.rs`; two-step sign-in in `account_mfa.rs`.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::accounts::{self, CurrentUser, FieldError};
use crate::app::AppState;
use crate::http::error::HtmlError;
use crate::http::extract::{PageCsrf, SignedIn, field_error};
use crate::http::pages::{Nav, device_name, display_time};

/// Routes for this area (the section pages; the forms' routes are merged in).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(get_overview))
        .route("/account/profile", get(get_profile))
        .route("/account/email", get(get_email))
        .route("/account/password", get(get_password))
        .route("/account/sessions", get(get_sessions))
        .route("/account/providers", get(get_providers))
        .route("/account/activity", get(get_activity))
        .merge(crate::http::account_forms::router())
        .merge(crate::http::account_data::router())
}

/// One section of the account centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Profile,
    Email,
    Password,
    Mfa,
    Sessions,
    Apps,
    Providers,
    Activity,
    Data,
    Delete,
}

impl Section {
    /// Every section, in the navigation's order.
    pub const ALL: [Section; 11] = [
        Section::Overview,
        Section::Profile,
        Section::Email,
        Section::Password,
        Section::Mfa,
        Section::Sessions,
        Section::Apps,
        Section::Providers,
        Section::Activity,
        Section::Data,
        Section::Delete,
    ];

    pub fn href(self) -> &'static str {
        match self {
            Section::Overview => "/account",
            Section::Profile => "/account/profile",
            Section::Email => "/account/email",
            Section::Password => "/account/password",
            Section::Mfa => "/account/mfa",
            Section::Sessions => "/account/sessions",
            Section::Apps => "/account/apps",
            Section::Providers => "/account/providers",
            Section::Activity => "/account/activity",
            Section::Data => "/account/export",
            Section::Delete => "/account/delete",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Profile => "Profile",
            Section::Email => "Email",
            Section::Password => "Password",
            Section::Mfa => "Two-step sign-in",
            Section::Sessions => "Sessions and devices",
            Section::Apps => "Connected apps",
            Section::Providers => "Linked sign-in",
            Section::Activity => "Security activity",
            Section::Data => "Your data",
            Section::Delete => "Delete account",
        }
    }
}

/// One link of the account navigation.
pub struct AccountLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What the account layout needs besides [`Nav`]: the section shown.
#[derive(Debug, Clone, Copy)]
pub struct AccountNav {
    pub section: Section,
}

impl AccountNav {
    pub fn new(section: Section) -> Self {
        Self { section }
    }

    /// The navigation's links, the current section marked.
    pub fn links(&self) -> Vec<AccountLink> {
        Section::ALL
            .iter()
            .map(|&s| AccountLink { href: s.href(), label: s.label(), current: s == self.section })
            .collect()
    }
}

/// A session row, ready to display.
pub(crate) struct SessionView {
    pub(crate) id: String,
    pub(crate) device: String,
    pub(crate) ip: String,
    pub(crate) created: String,
    pub(crate) last_seen: String,
    pub(crate) current: bool,
}

/// A sign-in attempt, ready to display.
pub(crate) struct ActivityView {
    pub(crate) when: String,
    pub(crate) outcome: &'static str,
    pub(crate) method: String,
    pub(crate) ip: String,
    pub(crate) device: String,
}

/// One provider on the Linked sign-in page.
pub(crate) struct UpstreamView {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The linked account's address, if linked ("" when it gave none).
    pub(crate) linked: Option<String>,
}

/// Every section page built from the account overview (one struct, one
/// template that shows `account.section`'s part).
#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub(crate) struct AccountPage {
    pub(crate) nav: Nav,
    pub(crate) account: AccountNav,
    pub(crate) csrf: String,
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) email_verified: bool,
    pub(crate) display_name: String,
    pub(crate) roles: String,
    pub(crate) member_since: String,
    pub(crate) sessions: Vec<SessionView>,
    pub(crate) activity: Vec<ActivityView>,
    pub(crate) notice: Option<&'static str>,
    pub(crate) errors: Vec<FieldError>,
    /// The new address as typed, kept when the form comes back with errors.
    pub(crate) new_email: String,
    /// Two-step sign-in is on.
    pub(crate) mfa_on: bool,
    /// Upstream providers: the configured ones, and any still linked.
    pub(crate) upstream: Vec<UpstreamView>,
    /// False for an account made by an upstream sign-in that never set one.
    pub(crate) has_password: bool,
}

impl AccountPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }

    fn is(&self, section: Section) -> bool {
        self.account.section == section
    }

    fn linked_count(&self) -> usize {
        self.upstream.iter().filter(|u| u.linked.is_some()).count()
    }
}

/// Configured providers with their link state, then links to providers no
/// longer configured (so they can still be removed).
async fn upstream_views(state: &AppState, user_id: &str) -> Result<Vec<UpstreamView>, HtmlError> {
    let links = state.accounts.upstream_identities(user_id).await?;
    let mut views: Vec<UpstreamView> = state
        .upstream
        .iter()
        .map(|p| UpstreamView {
            id: p.id().to_owned(),
            name: p.display_name().to_owned(),
            linked: links.iter().find(|l| l.provider == p.id()).map(|l| l.email.clone()),
        })
        .collect();
    for link in links {
        if !views.iter().any(|v| v.id == link.provider) {
            views.push(UpstreamView { id: link.provider.clone(), name: link.provider, linked: Some(link.email) });
        }
    }
    Ok(views)
}

impl SessionView {
    fn new(s: accounts::SessionInfo, current: bool) -> Self {
        Self {
            current,
            device: device_name(&s.user_agent),
            ip: s.ip,
            created: display_time(s.created_at),
            last_seen: display_time(s.last_seen_at),
            id: s.id,
        }
    }
}

impl From<accounts::Attempt> for ActivityView {
    fn from(a: accounts::Attempt) -> Self {
        Self {
            when: display_time(a.at),
            outcome: a.outcome,
            method: a.method,
            device: device_name(&a.user_agent),
            ip: a.ip,
        }
    }
}

/// The page of `section`, from the account overview.
pub(crate) async fn account_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &PageCsrf,
    section: Section,
    notice: Option<&'static str>,
    errors: Vec<FieldError>,
) -> Result<AccountPage, HtmlError> {
    let o = state.accounts.overview(user).await?;
    Ok(AccountPage {
        nav: Nav::new(Some(user)),
        account: AccountNav::new(section),
        csrf: csrf.token.clone(),
        roles: user.roles.join(", "),
        member_since: display_time(o.user.created_at),
        has_password: o.user.has_password,
        username: o.user.username,
        email: o.user.email,
        email_verified: o.user.email_verified,
        display_name: o.user.display_name,
        sessions: o.sessions.into_iter().map(|(s, current)| SessionView::new(s, current)).collect(),
        activity: o.activity.into_iter().map(ActivityView::from).collect(),
        notice,
        errors,
        new_email: String::new(),
        mfa_on: o.mfa_on,
        upstream: upstream_views(state, &user.user_id).await?,
    })
}

/// `?notice=` after a form succeeded.
#[derive(Deserialize, Default)]
pub(crate) struct NoticeQuery {
    pub(crate) notice: Option<String>,
}

/// What a section page says after its form worked.
pub(crate) fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "profile" => Some("Your display name is saved."),
        "password" => Some("Your password is changed. Your other sessions have ended."),
        "session" => Some("That session has ended."),
        "email" => Some("Check your new address: follow the link we sent there to confirm the change."),
        "linked" => Some("The account is linked: you can now sign in with it."),
        "unlinked" => Some("The account is unlinked."),
        "revoked" => Some("The app is disconnected: its access has stopped."),
        _ => None,
    }
}

async fn section_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: PageCsrf,
    q: &NoticeQuery,
    section: Section,
) -> Result<Response, HtmlError> {
    let page = account_page(state, user, &csrf, section, notice_text(q.notice.as_deref()), Vec::new()).await?;
    Ok((csrf, page).into_response())
}

/// A GET handler for one section page.
macro_rules! section_handler {
    ($name:ident, $section:expr) => {
        async fn $name(
            State(state): State<AppState>,
            SignedIn(user): SignedIn,
            csrf: PageCsrf,
            Query(q): Query<NoticeQuery>,
        ) -> Result<Response, HtmlError> {
            section_page(&state, &user, csrf, &q, $section).await
        }
    };
}

section_handler!(get_overview, Section::Overview);
section_handler!(get_profile, Section::Profile);
section_handler!(get_email, Section::Email);
section_handler!(get_password, Section::Password);
section_handler!(get_sessions, Section::Sessions);
section_handler!(get_providers, Section::Providers);
section_handler!(get_activity, Section::Activity);
