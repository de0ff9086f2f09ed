//! HTTP tests against the real server on loopback, on both stores.

mod common;

mod conventions;
mod issuer;
mod login;
mod oidc;
mod tokens;
