//! HTTP tests against the real server on loopback, on both stores.

mod common;
mod smtp_sink;

mod conventions;
mod login;
mod mail;
mod tokens;
mod users;
