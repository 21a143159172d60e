//! The console's dashboard (`GET /admin`): sign-ins and failed sign-ins per
//! hour (`security::stats`) drawn as inline SVG bars, with the figures in a
//! table for screen readers; live sessions, locked accounts, the outbox, the
//! signing key's schedule and the audit chain, with links to what needs
//! attention. No JavaScript.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::error::HtmlError;
use crate::http::extract::Admin;
use crate::http::pages::{Nav, display_time};
use crate::security::audit_log;
use crate::security::stats::{self, Series};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin", get(get_dashboard))
}

const CHART_HEIGHT: i64 = 120;

struct Bar {
    x: i64,
    width: i64,
    ok_y: i64,
    ok_h: i64,
    failed_x: i64,
    failed_y: i64,
    failed_h: i64,
}

struct HourLine {
    hour: String,
    ok: i64,
    failed: i64,
}

/// One chart: the bars and the same figures as rows.
struct Chart {
    id: &'static str,
    title: String,
    summary: String,
    width: i64,
    height: i64,
    bars: Vec<Bar>,
    rows: Vec<HourLine>,
}

impl Chart {
    fn of(id: &'static str, title: &str, series: &Series, bar: i64) -> Self {
        let peak = series.peak();
        let scale = |n: i64| n * CHART_HEIGHT / peak;
        let bars = series
            .hours
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let x = i as i64 * bar * 2;
                Bar {
                    x,
                    width: bar,
                    ok_y: CHART_HEIGHT - scale(h.ok),
                    ok_h: scale(h.ok),
                    failed_x: x + bar,
                    failed_y: CHART_HEIGHT - scale(h.failed),
                    failed_h: scale(h.failed),
                }
            })
            .collect();
        let summary = format!(
            "{title}: {} sign-in{} and {} failed sign-in{}, per hour",
            series.ok(),
            if series.ok() == 1 { "" } else { "s" },
            series.failed(),
            if series.failed() == 1 { "" } else { "s" }
        );
        Self {
            id,
            title: title.to_owned(),
            summary,
            width: series.hours.len() as i64 * bar * 2,
            height: CHART_HEIGHT,
            bars,
            rows: series
                .hours
                .iter()
                .rev()
                .map(|h| HourLine { hour: display_time(h.start), ok: h.ok, failed: h.failed })
                .collect(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    nav: Nav,
    console: Console,
    charts: Vec<Chart>,
    sessions: i64,
    locked: i64,
    mail_pending: i64,
    mail_dead: i64,
    /// The current key's id, age in days and when it is due to rotate.
    key: Option<(String, i64, String)>,
    key_overdue: bool,
    chain_broken_at: Option<i64>,
    chain_rows: u64,
}

impl DashboardPage {
    fn needs_attention(&self) -> bool {
        self.mail_dead > 0 || self.locked > 0 || self.chain_broken_at.is_some() || self.key_overdue
    }
}

async fn get_dashboard(State(state): State<AppState>, Admin(admin): Admin) -> Result<Response, HtmlError> {
    let now = state.clock.unix();
    let signins = stats::sign_ins(&state.store, now).await.map_err(HtmlError::internal)?;
    let figures = state.accounts.figures().await?;
    let rotation = state.keys.rotation().await.map_err(HtmlError::internal)?;
    let chain = audit_log::chain_state(&state.store).await.map_err(HtmlError::internal)?;
    let key_overdue = rotation.as_ref().is_some_and(|(_, due)| now > *due);
    let key = rotation.map(|(k, due)| {
        let age = (now - k.activated_at.unwrap_or(k.created_at)) / 86_400;
        (k.kid, age, display_time(due))
    });
    let page = DashboardPage {
        nav: Nav::new(Some(&admin)),
        console: Console::new(Section::Dashboard),
        charts: vec![
            Chart::of("day", "Last 24 hours", &signins.day, 8),
            Chart::of("week", "Last 7 days", &signins.week, 2),
        ],
        sessions: figures.live_sessions,
        locked: figures.locked_users,
        mail_pending: figures.mail_pending,
        mail_dead: figures.mail_dead,
        key,
        key_overdue,
        chain_broken_at: chain.first_bad.map(|(seq, _)| seq),
        chain_rows: chain.rows_checked,
    };
    Ok(page.into_response())
}
