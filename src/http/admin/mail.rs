//! `/admin/mail`: the outbox through `mail::Outbox` (the same functions as
//! `/api/v1/mail…` and `gatehouse mail`): messages by phase, newest first,
//! metadata only (a body holds single-use links and never leaves the
//! server); retry one (`mail_retried`), purge old sent and dead ones
//! (`mail_purged`).
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, CsrfForm, PageCsrf};
use crate::http::pages::{Nav, display_time, path_with_query};
use crate::mail::outbox::{MailPhase, MailSummary, PURGE_DAYS, Retry};

const PER_PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/mail", get(get_mail))
        .route("/admin/mail/{id}/retry", post(post_retry))
        .route("/admin/mail/purge", post(post_purge))
}

struct MailView {
    id: String,
    to: String,
    subject: String,
    kind: String,
    phase: &'static str,
    attempts: i64,
    last_error: String,
    created: String,
    next_attempt: String,
    done_at: String,
    retryable: bool,
}

impl MailView {
    fn new(m: MailSummary, phase: MailPhase) -> Self {
        Self {
            retryable: matches!(phase, MailPhase::Waiting | MailPhase::Dead),
            phase: phase.as_str(),
            id: m.id,
            to: m.to,
            subject: m.subject,
            kind: m.kind,
            attempts: m.attempts,
            last_error: m.last_error.unwrap_or_default(),
            created: display_time(m.created_at),
            next_attempt: if phase == MailPhase::Waiting { display_time(m.next_attempt_at) } else { String::new() },
            done_at: m.sent_at.or(m.dead_at).map(display_time).unwrap_or_default(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/mail.html")]
struct MailPage {
    nav: Nav,
    console: Console,
    csrf: String,
    phases: Vec<&'static str>,
    state: String,
    mails: Vec<MailView>,
    notice: Option<String>,
    error: Option<String>,
    older_than_days: String,
    first_page: Option<String>,
    next_page: Option<String>,
}

#[derive(Deserialize, Default)]
struct MailQuery {
    #[serde(default)]
    state: String,
    /// `created_at.id` of the previous page's last message.
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
    #[serde(default)]
    purged: String,
}

fn notice(q: &MailQuery) -> Option<String> {
    match q.done.as_str() {
        "retried" => Some("The message is queued again.".into()),
        "purged" => Some(format!("{} old messages were deleted.", q.purged.parse::<u64>().unwrap_or(0))),
        _ => None,
    }
}

impl MailPage {
    /// The page with its forms and no rows yet.
    fn new(
        admin: &crate::accounts::CurrentUser,
        csrf: &PageCsrf,
        q: &MailQuery,
        error: Option<String>,
        older_than_days: String,
    ) -> Self {
        Self {
            nav: Nav::new(Some(admin)),
            console: Console::new(Section::Mail),
            csrf: csrf.token.clone(),
            phases: MailPhase::ALL.iter().map(|p| p.as_str()).collect(),
            state: q.state.clone(),
            mails: Vec::new(),
            notice: notice(q),
            error,
            older_than_days,
            first_page: None,
            next_page: None,
        }
    }
}

/// The list's filter and position: the phase (none: all) and the cursor.
type Filter = (Option<MailPhase>, Option<(i64, String)>);

/// The query's filter, or the message for a bad one.
fn parse_filter(q: &MailQuery) -> Result<Filter, &'static str> {
    let phase = match q.state.as_str() {
        "" => None,
        s => Some(MailPhase::parse(s).ok_or("Choose a state: waiting, sending, sent or dead.")?),
    };
    let after = match q.after.split_once('.') {
        _ if q.after.is_empty() => None,
        Some((at, id)) => Some((at.parse::<i64>().map_err(|_| "That page link is broken.")?, id.to_owned())),
        None => return Err("That page link is broken."),
    };
    Ok((phase, after))
}

/// A link to the list in `state` from `after`, keeping the filter.
fn mail_link(state: &str, after: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if !state.is_empty() {
        pairs.push(("state", state));
    }
    if let Some(a) = after {
        pairs.push(("after", a));
    }
    path_with_query("/admin/mail", &pairs)
}

async fn render(
    state: &AppState,
    admin: &crate::accounts::CurrentUser,
    csrf: PageCsrf,
    q: MailQuery,
    error: Option<String>,
    older_than_days: String,
) -> Result<Response, HtmlError> {
    let mut page = MailPage::new(admin, &csrf, &q, error, older_than_days);
    let (phase, after) = match parse_filter(&q) {
        Ok(f) => f,
        Err(message) => {
            page.error = Some(message.into());
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf, page).into_response());
        }
    };
    let (mails, next) = state.outbox.page_by_phase(phase, after, PER_PAGE).await.map_err(HtmlError::internal)?;
    let link = |after: Option<String>| mail_link(&q.state, after.as_deref());
    page.first_page = (!q.after.is_empty()).then(|| link(None));
    page.next_page = next.map(|(at, id)| link(Some(format!("{at}.{id}"))));
    page.mails = mails.into_iter().map(|(m, p)| MailView::new(m, p)).collect();
    let status = if page.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, csrf, page).into_response())
}

async fn get_mail(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Query(q): Query<MailQuery>,
) -> Result<Response, HtmlError> {
    render(&state, &admin, csrf, q, None, "30".into()).await
}

async fn post_retry(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, HtmlError> {
    match state.outbox.retry_by(&id, &ctx.context(&admin.user_id)).await.map_err(HtmlError::internal)? {
        Retry::Queued(_) => Ok(Redirect::to("/admin/mail?done=retried").into_response()),
        Retry::Unknown => Err(HtmlError::not_found()),
        Retry::AlreadySent => Err(HtmlError::new(StatusCode::CONFLICT, "The message was sent already.")),
        Retry::Sending => {
            Err(HtmlError::new(StatusCode::CONFLICT, "The message is being sent right now; try again in a moment."))
        }
    }
}

#[derive(Deserialize)]
struct PurgeForm {
    #[serde(default)]
    older_than_days: String,
}

async fn post_purge(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<PurgeForm>,
) -> Result<Response, HtmlError> {
    let days = form.older_than_days.trim().parse::<i64>().ok();
    let purged = match days {
        Some(d) => state.outbox.purge_by(&ctx.context(&admin.user_id), d).await.map_err(HtmlError::internal)?,
        None => None,
    };
    match purged {
        Some(n) => Ok(Redirect::to(&format!("/admin/mail?done=purged&purged={n}")).into_response()),
        None => {
            let error =
                format!("Give the age as a whole number of days from {} to {}.", PURGE_DAYS.start(), PURGE_DAYS.end());
            let res = render(&state, &admin, csrf, MailQuery::default(), Some(error), form.older_than_days).await?;
            Ok(res)
        }
    }
}
