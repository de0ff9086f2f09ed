//! HTTP tests against the real server on loopback, on both stores.

mod common;
mod smtp_sink;

mod conventions;
mod issuer;
mod login;
mod mail;
mod oidc;
mod reset;
mod tokens;
mod users;
