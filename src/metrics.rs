//! Prometheus metrics, held per app (no global recorder, so parallel test apps
//! don't share counters). Rendered in the text exposition format at `/metrics`.
//!
//! Must not import: `accounts`, `oauth`, `http` (it only counts).
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Sign-in outcomes counted separately.
#[derive(Debug, Clone, Copy)]
pub enum LoginOutcome {
    Success,
    InvalidCredentials,
    Blocked,
    Unconfirmed,
    /// Refused because the account (or name) is locked.
    Locked,
}

impl LoginOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Blocked => "blocked",
            Self::Unconfirmed => "unconfirmed",
            Self::Locked => "locked",
        }
    }
}

/// The app's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    logins: Family<OutcomeLabels, Counter>,
    rate_limited: Family<BucketLabels, Counter>,
    lockouts: Counter,
    ip_refusals: Family<ScopeLabels, Counter>,
    janitor_deleted: Family<TableLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabels {
    bucket: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(&crate::mail::outbox::OutboxMetrics::default())
    }
}

impl Metrics {
    /// The registry, with the outbox worker's counters and gauges.
    pub fn new(outbox: &crate::mail::outbox::OutboxMetrics) -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        registry.register("logins", "Sign-in attempts by outcome", logins.clone());
        registry.register("mail_sent", "Mail handed to the transport", outbox.sent.clone());
        registry.register("mail_failures", "Failed mail delivery attempts", outbox.failures.clone());
        registry.register("mail_queue_depth", "Mail waiting to be sent", outbox.pending.clone());
        registry.register("mail_dead_letters", "Mail that ran out of attempts", outbox.dead.clone());
        let rate_limited = Family::<BucketLabels, Counter>::default();
        let lockouts = Counter::default();
        registry.register("rate_limited", "Requests refused with 429, by rate-limit bucket", rate_limited.clone());
        registry.register("lockouts", "Sign-in subjects locked after too many failures", lockouts.clone());
        let ip_refusals = Family::<ScopeLabels, Counter>::default();
        registry.register("ip_refusals", "Requests refused by IP rules, by scope", ip_refusals.clone());
        let janitor_deleted = Family::<TableLabels, Counter>::default();
        registry.register("janitor_deleted", "Expired rows deleted by the janitor, by table", janitor_deleted.clone());
        Self { registry, requests, latency, logins, rate_limited, lockouts, ip_refusals, janitor_deleted }
    }
}

impl Metrics {
    /// Records one finished HTTP request. `route` is the matched route template,
    /// never the raw path, so label cardinality stays bounded.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
        self.latency.get_or_create(&RouteLabels { method, route }).observe(seconds);
    }

    /// Records a sign-in attempt.
    pub fn observe_login(&self, outcome: LoginOutcome) {
        self.logins.get_or_create(&OutcomeLabels { outcome: outcome.label().to_owned() }).inc();
    }

    /// Records a request refused by the rate-limit `bucket`.
    pub fn observe_rate_limited(&self, bucket: &'static str) {
        self.rate_limited.get_or_create(&BucketLabels { bucket: bucket.to_owned() }).inc();
    }

    /// Records a new lock of an account (or unknown name).
    pub fn observe_lockout(&self) {
        self.lockouts.inc();
    }

    /// Records a request refused by an IP rule of `scope` (`global`, `client`, `role`).
    pub fn observe_ip_refusal(&self, scope: &'static str) {
        self.ip_refusals.get_or_create(&ScopeLabels { scope }).inc();
    }

    /// Records `rows` deleted from `table` by the janitor (0 makes the series appear).
    pub fn observe_janitor_deleted(&self, table: &'static str, rows: u64) {
        self.janitor_deleted.get_or_create(&TableLabels { table }).inc_by(rows);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe_request("GET", "/login", 200, 0.01);
        m.observe_login(LoginOutcome::InvalidCredentials);
        let text = m.render();
        assert!(
            text.contains("gatehouse_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("gatehouse_logins_total{outcome=\"invalid_credentials\"} 1"), "{text}");
        assert!(text.contains("gatehouse_http_request_duration_seconds_bucket"), "{text}");
    }
}
