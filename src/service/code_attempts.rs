//! Tries to use a code typed by a person (a reset or an invitation code), limited per client
//! address.

use std::net::IpAddr;

use sqlx::AnyConnection;

use crate::clock::Millis;
use crate::error::ApiError;
use crate::security::limits::{Limit, Reserved};
use crate::service::App;

/// One try to use a code (reset or invitation) from a client address. Guessing costs the
/// guesser, not the code's owner: each try is counted against the address before the code is
/// looked at, for known and unknown e-mails alike, in the store all nodes share, so however
/// many arrive at once no more than the hour's limit are checked (429 past it); a try whose
/// code was right is given back.
pub struct CodeAttempt<'a> {
    app: &'a App,
    reserved: Reserved,
    now: Millis,
}

impl<'a> CodeAttempt<'a> {
    pub async fn start(app: &'a App, client: Option<IpAddr>) -> Result<Self, ApiError> {
        Self::start_of(app, Limit::CodeAddress, client).await
    }

    /// A try counted against another limit of the client address.
    pub async fn start_of(
        app: &'a App,
        limit: Limit,
        client: Option<IpAddr>,
    ) -> Result<Self, ApiError> {
        let address = client.map(|ip| ip.to_string()).unwrap_or_default();
        let now = app.clock.now();
        let reserved = app.limits.reserve(limit, &address, now).await?;
        Ok(Self { app, reserved, now })
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// The code was right: the try does not count against the address. Given back in the
    /// transaction of the change the code made.
    pub async fn succeeded(self, conn: &mut AnyConnection) -> Result<(), ApiError> {
        self.app.limits.give_back(conn, self.reserved).await
    }

    /// Nothing was tried after all (the request was refused before the code was used): the
    /// try does not count against the address.
    pub async fn untried(self) -> Result<(), ApiError> {
        self.app.limits.give_back_now(self.reserved).await
    }
}
