//! Where the request in flight comes from: the client's address and the user agent it gave.
//! The HTTP layer sets it once per request (the address from the socket, or from the
//! forwarding headers of a trusted proxy); limits and audit events read it from here, so no
//! operation has to pass it along.

use std::net::IpAddr;
use std::sync::Arc;

/// A user agent is kept to this many characters: enough to tell clients apart, bounded in the
/// audit trail however long the header is.
const USER_AGENT_CHARS: usize = 200;

#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub address: Option<IpAddr>,
    pub user_agent: Option<Arc<str>>,
}

impl Origin {
    pub fn new(address: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent
            .map(str::trim)
            .filter(|ua| !ua.is_empty())
            .map(|ua| ua.chars().take(USER_AGENT_CHARS).collect::<String>().into());
        Self {
            address,
            user_agent,
        }
    }
}

tokio::task_local! {
    static ORIGIN: Origin;
}

/// Runs `f` as the request that came from `origin`.
pub async fn scope<F: std::future::Future>(origin: Origin, f: F) -> F::Output {
    ORIGIN.scope(origin, f).await
}

/// The origin of the request in flight; empty outside of one (background work).
pub fn current() -> Origin {
    ORIGIN.try_with(Origin::clone).unwrap_or_default()
}

/// The client's address of the request in flight.
pub fn address() -> Option<IpAddr> {
    ORIGIN.try_with(|o| o.address).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_trimmed_and_bounded() {
        let long = "x".repeat(1000);
        let o = Origin::new(None, Some(&long));
        assert_eq!(o.user_agent.unwrap().chars().count(), USER_AGENT_CHARS);
        assert!(Origin::new(None, Some("  ")).user_agent.is_none());
    }

    #[tokio::test]
    async fn outside_a_request_there_is_no_origin() {
        assert!(address().is_none());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let seen = scope(Origin::new(Some(ip), Some("t")), async { address() }).await;
        assert_eq!(seen, Some(ip));
    }
}
