//! The admin console: one layout (`templates/admin/layout.html`) with a
//! navigation bar over its sections, each in its own module. Every handler
//! takes [`crate::http::extract::Admin`] (or [`crate::http::confirm::RecentAdmin`]
//! for a destructive action), so access control cannot be forgotten on a new
//! route: anonymous visitors are sent to sign in, other users get 403.
//!
//! Handlers only turn forms into service calls and results into pages; the
//! rules live in the services the JSON API calls too.
use axum::Router;

use crate::app::AppState;

mod audit;
mod clients;
mod clients_danger;
mod clients_form;
mod dashboard;
mod ip;
mod keys;
mod mail;
mod settings;
mod users;
mod users_actions;
mod users_confirm;
mod users_detail;
mod users_new;
mod users_tabs;

/// Routes for the whole console.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(dashboard::router())
        .merge(users::router())
        .merge(mail::router())
        .merge(keys::router())
        .merge(audit::router())
        .merge(clients::router())
        .merge(ip::router())
        .merge(settings::router())
}

/// The console's sections, in the order of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Dashboard,
    Users,
    Clients,
    Audit,
    Mail,
    Ip,
    Keys,
    Settings,
}

impl Section {
    const ALL: [Section; 8] = [
        Section::Dashboard,
        Section::Users,
        Section::Clients,
        Section::Audit,
        Section::Mail,
        Section::Ip,
        Section::Keys,
        Section::Settings,
    ];

    fn href(self) -> &'static str {
        match self {
            Section::Dashboard => "/admin",
            Section::Users => "/admin/users",
            Section::Clients => "/admin/clients",
            Section::Audit => "/admin/audit",
            Section::Mail => "/admin/mail",
            Section::Ip => "/admin/ip",
            Section::Keys => "/admin/keys",
            Section::Settings => "/admin/settings",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Section::Dashboard => "Dashboard",
            Section::Users => "Users",
            Section::Clients => "Clients",
            Section::Audit => "Audit log",
            Section::Mail => "Mail",
            Section::Ip => "IP rules",
            Section::Keys => "Keys",
            Section::Settings => "Settings",
        }
    }
}

/// What the console layout needs besides [`crate::http::pages::Nav`]: the
/// section being shown (marked `aria-current="page"` in the bar).
#[derive(Debug, Clone, Copy)]
pub struct Console {
    pub section: Section,
}

/// One link of the console's navigation bar.
pub struct ConsoleLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

impl Console {
    pub fn new(section: Section) -> Self {
        Self { section }
    }

    /// The bar's links, the current section marked.
    pub fn links(&self) -> Vec<ConsoleLink> {
        Section::ALL
            .iter()
            .map(|&s| ConsoleLink { href: s.href(), label: s.label(), current: s == self.section })
            .collect()
    }
}
