//! `bf-security organization …`: listing and creating organizations on the store directly.

use clap::Subcommand;
use serde::Serialize;

use super::output::{failure, written, Failure, Format, Listing, Out};
use super::users::UserAnswer;
use crate::http::views::Organization;
use crate::service::shell::{self, Operator};
use crate::service::App;

#[derive(Subcommand, Debug)]
pub enum OrganizationCommand {
    /// Lists every organization, oldest first, with its customer code and number of members.
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Creates an organization with its `Administrator` role (every permission in it).
    ///
    /// Its customer code is made of its name, as at sign-up. With --admin-email an existing
    /// user becomes a member holding that role; to make a new user its administrator, create
    /// the organization, then `bf-security user create --organization NAME --role
    /// Administrator`. Recorded in the audit trail as `organization.created` by
    /// `cli:organization create`.
    Create {
        /// The organization's name.
        #[arg(long)]
        name: String,
        /// An existing user (by login e-mail) to make its administrator.
        #[arg(long)]
        admin_email: Option<String>,
        #[command(flatten)]
        format: Format,
    },
}

/// An organization as the API answers it, with its number of members.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    organization: Organization,
    members: i64,
}

/// A new organization as the API answers it, with its `Administrator` role and the user made
/// its administrator.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    #[serde(flatten)]
    organization: Organization,
    #[serde(rename = "administratorRoleID")]
    administrator_role_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    administrator: Option<UserAnswer>,
}

/// Organizations read from the store at once while listing.
const PAGE: i64 = 500;

pub async fn run(app: &App, command: OrganizationCommand) -> Result<(), Failure> {
    match command {
        OrganizationCommand::List { format } => list(app, format).await,
        OrganizationCommand::Create {
            name,
            admin_email,
            format,
        } => {
            let op = Operator::new("organization create");
            let created = shell::create_organization(app, &op, &name, admin_email.as_deref())
                .await
                .map_err(failure)?;
            let org = &created.organization;
            let role = &created.administrator_role;
            let mut out = Out::new();
            let shown = if format.json {
                out.json(&Created {
                    organization: org.clone().into(),
                    administrator_role_id: role.id.clone(),
                    administrator: created.administrator.as_ref().map(UserAnswer::of),
                })
            } else {
                let mut lines = vec![format!(
                    "created organization {} ({}), customer code {}, with role {} ({})",
                    org.name, org.id, org.customer_code, role.name, role.id
                )];
                if let Some(admin) = &created.administrator {
                    lines.push(format!(
                        "administrator: {} ({})",
                        admin.user.email, admin.user.id
                    ));
                }
                lines.iter().try_for_each(|l| out.line(l))
            };
            written(shown)?;
            out.finish()
        }
    }
}

async fn list(app: &App, format: Format) -> Result<(), Failure> {
    let header = format!(
        "{:<40} {:<24} {:>7}  NAME",
        "ID", "CUSTOMER CODE", "MEMBERS"
    );
    let mut listing = Listing::start(format.json, &header)?;
    let mut after = String::new();
    loop {
        let page = shell::organizations_page(app, &after, PAGE)
            .await
            .map_err(failure)?;
        for (org, members) in &page {
            let line = || {
                let deleted = if org.deleted { " (deleted)" } else { "" };
                format!(
                    "{:<40} {:<24} {:>7}  {}{deleted}",
                    org.id, org.customer_code, members, org.name
                )
            };
            let value = || Listed {
                organization: org.clone().into(),
                members: *members,
            };
            if !listing.push(line, value)? {
                return Ok(());
            }
        }
        match page.last() {
            Some((last, _)) if page.len() as i64 == PAGE => after = last.id.clone(),
            _ => break,
        }
    }
    listing.finish("organization", "organizations")
}
