//! `bf-security user …`: creating users, setting a lost password, disabling and enabling,
//! listing and showing users, on the store directly.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::input::password_from_stdin;
use super::output::{failure, written, Failure, Format, Listing, Out};
use crate::domain::SecretString;
use crate::http::views::{Organization, User};
use crate::service::shell::{self, Member, Operator, PasswordSource};
use crate::service::App;

/// Where a new password comes from: standard input, or made up and printed once.
#[derive(Args, Debug, Clone, Copy)]
pub struct PasswordInput {
    /// Reads the password from the first line of standard input (at a terminal, asked for
    /// without echo). Without it a random password is generated and printed once. A password
    /// is never taken as an argument: every user of the machine can read those in `ps`.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Creates a user with a password, as a member of an organization.
    ///
    /// The e-mail and the password follow the API's rules (the password policy, Argon2id).
    /// Without --role the user holds the organization's default role, if it has one. Recorded
    /// in the audit trail as `user.created` by `cli:user create`.
    Create {
        /// The user's login e-mail.
        #[arg(long)]
        email: String,
        /// The organization he joins, by ID or name; by default the only one there is.
        #[arg(long)]
        organization: Option<String>,
        /// A role he holds there, by ID or name; repeat it for several.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        #[command(flatten)]
        password: PasswordInput,
        #[command(flatten)]
        format: Format,
    },
    /// Sets a user's password, e.g. the administrator's when it was lost.
    ///
    /// His sessions end (their access and refresh tokens stop working), as when an
    /// administrator sets his password through the API; his permanent API tokens stay. A
    /// disabled user stays disabled. Recorded as `user.password_changed` by
    /// `cli:user set-password`.
    SetPassword {
        /// The user's login e-mail.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        password: PasswordInput,
        #[command(flatten)]
        format: Format,
    },
    /// Disables a user: he can no longer log in or refresh, and every token he holds stops
    /// working.
    ///
    /// All his sessions end and his permanent API tokens are revoked, as with `enabled: false`
    /// through the API; enabling him again gives none of them back. Recorded as `user.updated`
    /// by `cli:user disable`.
    Disable {
        /// The user's login e-mail.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        format: Format,
    },
    /// Removes all of a user's second factors and recovery codes, e.g. the administrator's
    /// when he lost them.
    ///
    /// His next login asks for no second factor (where an organization of his requires one,
    /// it is limited to enrolling one). He is mailed. His sessions stay. Recorded as
    /// `mfa.reset` by `cli:user remove-second-factors`.
    RemoveSecondFactors {
        /// The user's login e-mail.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        format: Format,
    },
    /// Enables a disabled user: he may log in again.
    ///
    /// Recorded as `user.updated` by `cli:user enable`.
    Enable {
        /// The user's login e-mail.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        format: Format,
    },
    /// Lists users by e-mail, with their organizations and roles.
    List {
        /// Only the members of this organization, by ID or name.
        #[arg(long)]
        organization: Option<String>,
        #[command(flatten)]
        format: Format,
    },
    /// Shows one user: his organizations and roles there, whether he is disabled, his working
    /// sessions and permanent API tokens.
    Show {
        /// The user's login e-mail.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        format: Format,
    },
}

/// Users read from the store at once while listing.
const PAGE: i64 = 200;

pub async fn run(app: &App, command: UserCommand) -> Result<(), Failure> {
    match command {
        UserCommand::Create {
            email,
            organization,
            roles,
            password,
            format,
        } => {
            if password.password_stdin {
                shell::check_new_user(app, &email, organization.as_deref(), &roles)
                    .await
                    .map_err(failure)?;
            }
            let password = source(password, &email)?;
            let op = Operator::new("user create");
            let req = shell::NewMember {
                email,
                organization,
                roles,
                password,
            };
            let created = shell::create_user(app, &op, req).await.map_err(failure)?;
            let generated = created.generated_password;
            let m = created.member;
            let mut out = Out::new();
            let shown = if format.json {
                out.json(&UserAnswer {
                    password: generated.as_ref().map(|p| p.expose().to_string()),
                    ..UserAnswer::of(&m)
                })
            } else {
                let home = m
                    .organizations
                    .iter()
                    .find(|o| o.id == m.user.organization_id);
                let mut lines = vec![format!(
                    "created user {} ({}) in organization {}",
                    m.user.email,
                    m.user.id,
                    home.map(|o| format!("{} ({})", o.name, o.id))
                        .unwrap_or_else(|| m.user.organization_id.clone())
                )];
                lines.push(format!("roles: {}", roles_text(&m)));
                lines.extend(password_line(&generated));
                lines.iter().try_for_each(|l| out.line(l))
            };
            written(shown)?;
            out.finish()
        }
        UserCommand::SetPassword {
            email,
            password,
            format,
        } => {
            if password.password_stdin {
                shell::user(app, &email).await.map_err(failure)?;
            }
            let password = source(password, &email)?;
            let op = Operator::new("user set-password");
            let set = shell::set_password(app, &op, &email, password)
                .await
                .map_err(failure)?;
            let m = &set.member;
            let mut out = Out::new();
            let shown = if format.json {
                out.json(&UserAnswer {
                    sessions_ended: Some(set.sessions_ended),
                    tokens_revoked: Some(set.tokens_revoked),
                    password: set
                        .generated_password
                        .as_ref()
                        .map(|p| p.expose().to_string()),
                    ..UserAnswer::of(m)
                })
            } else {
                let mut lines = vec![format!(
                    "set the password of {} ({}); ended {}",
                    m.user.email,
                    m.user.id,
                    sessions_text(set.sessions_ended)
                )];
                lines.extend(password_line(&set.generated_password));
                if !m.user.enabled {
                    lines.push(format!(
                        "{0} is disabled: `bf-security user enable --email {0}` lets him log in",
                        m.user.email
                    ));
                }
                lines.iter().try_for_each(|l| out.line(l))
            };
            written(shown)?;
            out.finish()
        }
        UserCommand::Disable { email, format } => standing(app, &email, false, format).await,
        UserCommand::Enable { email, format } => standing(app, &email, true, format).await,
        UserCommand::RemoveSecondFactors { email, format } => {
            let op = Operator::new("user remove-second-factors");
            let r = shell::remove_second_factors(app, &op, &email)
                .await
                .map_err(failure)?;
            let m = &r.member;
            let mut out = Out::new();
            let shown = if format.json {
                out.json(&UserAnswer {
                    changed: Some(r.removed > 0),
                    second_factors_removed: Some(r.removed),
                    ..UserAnswer::of(m)
                })
            } else if r.removed == 0 {
                out.line(&format!(
                    "{} ({}) has no second factor; nothing changed",
                    m.user.email, m.user.id
                ))
            } else {
                out.line(&format!(
                    "removed {} second factor{} and the recovery codes of {} ({}); a mail tells him",
                    r.removed,
                    if r.removed == 1 { "" } else { "s" },
                    m.user.email,
                    m.user.id
                ))
            };
            written(shown)?;
            out.finish()
        }
        UserCommand::List {
            organization,
            format,
        } => list(app, organization.as_deref(), format).await,
        UserCommand::Show { email, format } => {
            let d = shell::show(app, &email).await.map_err(failure)?;
            let mut out = Out::new();
            let shown = if format.json {
                out.json(&UserAnswer {
                    sessions: Some(d.sessions),
                    api_tokens: Some(d.api_tokens),
                    second_factors: Some(d.second_factors.clone()),
                    ..UserAnswer::of(&d.member)
                })
            } else {
                show_lines(&d).iter().try_for_each(|l| out.line(l))
            };
            written(shown)?;
            out.finish()
        }
    }
}

/// The password the operator chose to give, read before anything is written (and, when it is
/// read, after the rest was found good: nobody types a password for a user who cannot be).
fn source(input: PasswordInput, email: &str) -> Result<PasswordSource, Failure> {
    if !input.password_stdin {
        return Ok(PasswordSource::Generated);
    }
    let prompt = format!("new password for {}: ", email.trim());
    password_from_stdin(&prompt).map(PasswordSource::Given)
}

fn password_line(generated: &Option<SecretString>) -> Option<String> {
    generated
        .as_ref()
        .map(|p| format!("password (shown once): {}", p.expose()))
}

async fn standing(app: &App, email: &str, enabled: bool, format: Format) -> Result<(), Failure> {
    let (command, verb) = if enabled {
        ("user enable", "enabled")
    } else {
        ("user disable", "disabled")
    };
    let op = Operator::new(command);
    let s = shell::set_enabled(app, &op, email, enabled)
        .await
        .map_err(failure)?;
    let m = &s.member;
    let mut out = Out::new();
    let shown = if format.json {
        out.json(&UserAnswer {
            changed: Some(s.changed),
            sessions_ended: Some(s.sessions_ended),
            tokens_revoked: Some(s.tokens_revoked),
            ..UserAnswer::of(m)
        })
    } else if !s.changed {
        out.line(&format!(
            "{} ({}) was {verb} already; nothing changed",
            m.user.email, m.user.id
        ))
    } else if enabled {
        out.line(&format!("enabled {} ({})", m.user.email, m.user.id))
    } else {
        out.line(&format!(
            "disabled {} ({}); ended {} and revoked {} tokens",
            m.user.email,
            m.user.id,
            sessions_text(s.sessions_ended),
            s.tokens_revoked
        ))
    };
    written(shown)?;
    out.finish()
}

async fn list(app: &App, organization: Option<&str>, format: Format) -> Result<(), Failure> {
    let organization_id = match organization {
        Some(key) => Some(shell::organization(app, key).await.map_err(failure)?.id),
        None => None,
    };
    let header = format!(
        "{:<32} {:<40} {:<8} ORGANIZATIONS AND ROLES",
        "EMAIL", "ID", "STATE"
    );
    let mut listing = Listing::start(format.json, &header)?;
    let mut after = String::new();
    loop {
        let page = shell::users_page(app, organization_id.as_deref(), &after, PAGE)
            .await
            .map_err(failure)?;
        for m in &page {
            let line = || {
                format!(
                    "{:<32} {:<40} {:<8} {}",
                    m.user.email,
                    m.user.id,
                    state(m),
                    roles_text(m)
                )
            };
            if !listing.push(line, || UserAnswer::of(m))? {
                return Ok(());
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = last.user.email_key.clone(),
            _ => break,
        }
    }
    listing.finish("user", "users")
}

/// A user as the API answers him, with his roles in every organization he belongs to, and
/// beside them those organizations; then what the command has to add.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserAnswer {
    #[serde(flatten)]
    user: User,
    organizations: Vec<Organization>,
    /// Working sessions (`user show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions: Option<i64>,
    /// Working permanent API tokens (`user show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    api_tokens: Option<i64>,
    /// The kinds of his confirmed second factors, one per factor (`user show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    second_factors: Option<Vec<String>>,
    /// Whether anything was written (`user enable`, `user disable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions_ended: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_revoked: Option<usize>,
    /// Second factors removed (`user remove-second-factors`).
    #[serde(skip_serializing_if = "Option::is_none")]
    second_factors_removed: Option<u64>,
    /// A generated password, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

impl UserAnswer {
    pub(super) fn of(m: &Member) -> Self {
        Self {
            user: User::new(m.user.clone(), m.roles.clone()),
            organizations: m
                .organizations
                .iter()
                .cloned()
                .map(Organization::from)
                .collect(),
            sessions: None,
            api_tokens: None,
            second_factors: None,
            changed: None,
            sessions_ended: None,
            tokens_revoked: None,
            second_factors_removed: None,
            password: None,
        }
    }
}

fn state(m: &Member) -> &'static str {
    if m.user.enabled {
        "enabled"
    } else {
        "disabled"
    }
}

/// `ACME: Administrator; Beta: Viewer (default)`, each organization with the roles held there.
fn roles_text(m: &Member) -> String {
    let mut parts: Vec<String> = m
        .organizations
        .iter()
        .map(|o| format!("{}: {}", o.name, roles_in(m, &o.id)))
        .collect();
    if parts.is_empty() {
        parts.push("member of no organization".into());
    }
    if m.user.bf_admin {
        parts.push("platform administrator".into());
    }
    parts.join("; ")
}

fn roles_in(m: &Member, organization_id: &str) -> String {
    let names: Vec<String> = m
        .roles
        .iter()
        .filter(|h| h.role.organization_id == organization_id)
        .map(|h| {
            if h.default_returned {
                format!("{} (default)", h.role.name)
            } else {
                h.role.name.clone()
            }
        })
        .collect();
    if names.is_empty() {
        "no role".into()
    } else {
        names.join(", ")
    }
}

fn sessions_text(n: usize) -> String {
    match n {
        1 => "1 session".into(),
        n => format!("{n} sessions"),
    }
}

/// How many confirmed second factors, and of which kinds: `none`, `1 (totp)`, `2 (totp)`.
fn second_factors_text(kinds: &[String]) -> String {
    if kinds.is_empty() {
        return "none".into();
    }
    let mut distinct: Vec<&str> = kinds.iter().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    format!("{} ({})", kinds.len(), distinct.join(", "))
}

fn show_lines(d: &shell::Details) -> Vec<String> {
    let m = &d.member;
    let u = &m.user;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let home = m
        .organizations
        .iter()
        .find(|o| o.id == u.organization_id)
        .map(|o| format!("{} ({})", o.name, o.id))
        .unwrap_or_else(|| u.organization_id.clone());
    let mut lines = vec![
        format!("{} ({})", u.email, u.id),
        format!("  state:                  {}", state(m)),
        format!("  platform administrator: {}", yes_no(u.bf_admin)),
        format!(
            "  password set:           {}",
            yes_no(u.password_hash.is_some())
        ),
        format!("  home organization:      {home}"),
        "  organizations and roles:".into(),
    ];
    for o in &m.organizations {
        lines.push(format!("    {} ({}): {}", o.name, o.id, roles_in(m, &o.id)));
    }
    if m.organizations.is_empty() {
        lines.push("    none".into());
    }
    lines.push(format!("  working sessions:       {}", d.sessions));
    lines.push(format!("  permanent API tokens:   {}", d.api_tokens));
    lines.push(format!(
        "  second factors:         {}",
        second_factors_text(&d.second_factors)
    ));
    lines.push(format!(
        "  created:                {}",
        crate::clock::rfc3339(u.created)
    ));
    lines.push(format!(
        "  updated:                {}{}",
        crate::clock::rfc3339(u.updated),
        u.changed_by
            .as_deref()
            .map(|by| format!(" by {by}"))
            .unwrap_or_default()
    ));
    lines
}
