//! HTTP tests against the real server on loopback, on both stores.

mod common;

mod conventions;
mod isolation;
mod login;
mod roles;
mod tokens;
