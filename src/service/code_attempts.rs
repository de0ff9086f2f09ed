//! Tries to use a code typed by a person (a reset or an invitation code), limited per client
//! address.

use std::net::IpAddr;

use crate::clock::Millis;
use crate::error::ApiError;
use crate::security::limiter::Reserved;
use crate::service::App;

/// One try to use a code (reset or invitation) from a client address. Guessing costs the
/// guesser, not the code's owner: each try is counted against the address before the code is
/// looked at, for known and unknown e-mails alike, so however many arrive at once no more than
/// the hour's limit are checked (429 past it); a try whose code was right is given back.
pub struct CodeAttempt<'a> {
    reserved: Reserved<'a>,
    now: Millis,
}

impl<'a> CodeAttempt<'a> {
    pub fn start(app: &'a App, client: Option<IpAddr>) -> Result<Self, ApiError> {
        let address = client.map(|ip| ip.to_string()).unwrap_or_default();
        let now = app.clock.now();
        let reserved = app.code_failures.reserve(&address, now)?;
        Ok(Self { reserved, now })
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// The code was right: the try does not count against the address.
    pub fn succeeded(self) {
        self.reserved.give_back();
    }
}
