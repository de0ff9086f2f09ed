//! HTTP tests against the real server on loopback, on both stores.

mod common;
mod smtp_sink;

mod audit;
mod conventions;
mod documentation;
mod escalation;
mod hashing;
mod headers;
mod hostile_input;
mod interactive_docs;
mod introspection;
mod invitations;
mod isolation;
mod issuer;
mod limits;
mod login;
mod mail;
mod member_pages;
mod mfa;
mod nodes;
mod oauth;
mod oidc;
mod organizations;
mod passkey_login;
mod passkeys;
mod reset;
mod resilience;
mod roles;
mod session_limits;
mod sessions;
mod tokens;
mod users;
