//! Credentials: password hashing, token secrets, and turning a bearer token into the caller
//! with his permissions.

pub mod authenticator;
pub mod hashing;
pub mod limiter;
pub mod limits;
pub mod passkeys;
pub mod sealing;
pub mod secrets;

pub use authenticator::{Authenticator, Principal, UsedOn};
pub use hashing::PasswordHasher;
pub use secrets::TokenKind;
