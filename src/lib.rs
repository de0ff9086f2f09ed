//! bf-security: the Security API of the BillForward billing platform.
//!
//! - `http/`: where requests enter (router, extractors, handlers, the OpenAPI document);
//! - `service/`: where each operation's rules are decided;
//! - `domain/`: values that can only be built valid (e-mails, passwords, permissions);
//! - `security/`: password hashing, token secrets, resolving a bearer token to its caller;
//! - `store/`: where rows are read and written, on SQLite or PostgreSQL;
//! - `mail/`: where mail leaves: the outbox and its sender;
//! - `admin/`: the shell commands that work on the store directly (`user`, `organization`).

pub mod admin;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod origin;
pub mod security;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
