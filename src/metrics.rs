//! Prometheus metrics: requests by route and status, latency, logins by outcome, mails, and
//! the password hasher's Argon2 runs. Every layer counts into them; `GET /metrics` renders
//! them.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

/// Argon2 runs since start, by kind. Clones count into the same counters.
#[derive(Clone, Default, Debug)]
pub struct HashCounts {
    /// Hashes of new passwords.
    pub hashes: Counter,
    /// Checks of given passwords, against a dummy hash for unknown users too.
    pub verifications: Counter,
    /// Hashes and checks refused at once because the hashing queue was full.
    pub shed: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub logins: Family<OutcomeLabels, Counter>,
    pub mails: Family<OutcomeLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("bf_security");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        let logins = Family::<OutcomeLabels, Counter>::default();
        let mails = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        registry.register("logins", "Password logins, by outcome", logins.clone());
        registry.register(
            "mails",
            "Mails, by outcome (queued, sent, failed)",
            mails.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
            logins,
            mails,
        }
    }
}

impl Metrics {
    pub fn login(&self, succeeded: bool) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        self.logins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn observe(&self, method: &'static str, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    /// Publishes the password hasher's Argon2 runs.
    pub fn track_hashing(&self, counts: &HashCounts) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        registry.register(
            "password_hashes",
            "Argon2id hashes of new passwords",
            counts.hashes.clone(),
        );
        registry.register(
            "password_verifications",
            "Argon2id checks of given passwords (unknown users' against a dummy hash)",
            counts.verifications.clone(),
        );
        registry.register(
            "password_hashing_shed",
            "Hashes and checks of passwords refused at once (503) because the hashing queue was full",
            counts.shed.clone(),
        );
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}
