//! Administration from the shell, for operators who can reach the store (the same settings as
//! `serve`): `bf-security user …` and `bf-security organization …`. No login and no token: the
//! service's rules apply all the same (`service::shell`), and every change is in the audit
//! trail under the command's name (`cli:user set-password`) with the Unix account that ran it.
//! Each command answers lines for people, or one JSON document with `--json`.

mod input;
mod organizations;
mod output;
mod users;

pub use organizations::OrganizationCommand;
pub use output::Failure;
pub use users::UserCommand;

use crate::service::App;

/// Runs a `user` command; a failure is the one line to print.
pub async fn user(app: &App, command: UserCommand) -> Result<(), Failure> {
    output::as_shell(users::run(app, command)).await
}

/// Runs an `organization` command; a failure is the one line to print.
pub async fn organization(app: &App, command: OrganizationCommand) -> Result<(), Failure> {
    output::as_shell(organizations::run(app, command)).await
}
