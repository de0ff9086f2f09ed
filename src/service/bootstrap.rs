//! The first organization and its platform administrator, for scripted installs and for the
//! first start of an empty store.

use base64::Engine;
use rand::RngCore;

use crate::config::DEFAULT_ADMIN_EMAIL;
use crate::domain::{Email, NewPassword, SecretString};
use crate::error::ApiError;
use crate::service::change::Change;
use crate::service::{conflict_on_unique, organizations, users, App};
use crate::store::{self, audit::AuditEvent};

pub const DEFAULT_ORGANIZATION: &str = "Default";

/// Who the audit trail names for an administrator made by `bf-security bootstrap`, and for one
/// made by the first start of `serve`: commands, as the shell commands are named.
pub const BOOTSTRAP_ACTOR: &str = "cli:bootstrap";
pub const FIRST_START_ACTOR: &str = "cli:serve";

/// Creates an organization and a `bfAdmin` user holding its `Administrator` role.
/// An e-mail that exists already is a 409.
pub async fn create_admin(
    app: &App,
    organization: &str,
    email: &str,
    password: &SecretString,
) -> Result<(String, String), ApiError> {
    let admin = NewAdmin::prepare(app, organization, email, password).await?;
    let mut change = Change::begin(app).await?;
    let created = admin.insert(&mut change, BOOTSTRAP_ACTOR).await?;
    change.commit().await?;
    Ok(created)
}

/// An administrator checked and his password hashed, ready to be written.
struct NewAdmin {
    organization: String,
    email: Email,
    hash: String,
}

impl NewAdmin {
    async fn prepare(
        app: &App,
        organization: &str,
        email: &str,
        password: &SecretString,
    ) -> Result<Self, ApiError> {
        let organization = organization.trim();
        if organization.is_empty() {
            return Err(ApiError::missing("organization"));
        }
        let email = Email::parse(email, "email")?;
        let password = NewPassword::parse(
            password,
            "password",
            &app.settings.password.policy(),
            &email,
        )?;
        let hash = app.hasher.hash(password.secret()).await?;
        Ok(Self {
            organization: organization.to_string(),
            email,
            hash,
        })
    }

    /// Writes the organization, its `Administrator` role and the user holding it; answers
    /// their IDs.
    async fn insert(
        self,
        change: &mut Change<'_>,
        actor: &str,
    ) -> Result<(String, String), ApiError> {
        let email = self.email;
        let now = change.now();
        let tx = &mut change.tx;
        if store::users::find_by_email_key(tx, email.key())
            .await?
            .is_some()
        {
            return Err(ApiError::Conflict(format!(
                "a user with e-mail {} exists already",
                email.as_str()
            )));
        }
        let (org, role) =
            organizations::create_with_admin_role(tx, &self.organization, now, None).await?;
        let mut user = users::new_user_row(&email, &org.id, now, None);
        user.bf_admin = true;
        user.password_hash = Some(self.hash);
        store::users::insert(tx, &user)
            .await
            .map_err(conflict_on_unique("a user with that e-mail exists already"))?;
        store::memberships::add_member(tx, &user.id, &org.id, now, None).await?;
        store::memberships::give_role(tx, &user.id, &role.id, &org.id, now, None).await?;
        change
            .audit(AuditEvent {
                actor_id: Some(actor),
                organization_id: Some(&org.id),
                action: "bootstrap.administrator_created",
                subject_id: Some(&user.id),
                target_id: Some(&user.id),
                ..Default::default()
            })
            .await?;
        Ok((org.id, user.id))
    }
}

/// What the first start of an empty store did, for the operator to read once.
pub struct FirstStart {
    pub email: String,
    /// Set when the password was made up here and must be shown to the operator.
    pub generated_password: Option<SecretString>,
}

/// Why the first start failed: the step, then every cause.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {cause}")]
pub struct FirstStartError {
    pub step: &'static str,
    pub cause: String,
}

impl FirstStartError {
    fn at(step: &'static str) -> impl FnOnce(ApiError) -> Self {
        move |e| Self {
            step,
            cause: crate::error::chain(&e),
        }
    }
}

/// On an empty store, creates organization `Default` and its administrator. Nodes starting
/// together on one empty database take turns; all but the first find the store filled.
pub async fn on_first_start(app: &App) -> Result<Option<FirstStart>, FirstStartError> {
    let empty = async {
        let mut conn = app.store.pool().acquire().await?;
        Ok::<_, ApiError>(store::organizations::count(&mut conn).await? == 0)
    }
    .await
    .map_err(FirstStartError::at("reading whether the store is empty"))?;
    if !empty {
        return Ok(None);
    }
    let email = app
        .settings
        .bootstrap
        .email
        .clone()
        .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_string());
    let (password, generated) = match &app.settings.bootstrap.password {
        Some(p) => (SecretString::new(p.clone()), false),
        None => (random_password(), true),
    };
    let admin = NewAdmin::prepare(app, DEFAULT_ORGANIZATION, &email, &password)
        .await
        .map_err(FirstStartError::at(
            "the first administrator (BF_BOOTSTRAP_EMAIL, BF_BOOTSTRAP_PASSWORD)",
        ))?;
    let created = async {
        let mut change = Change::begin(app).await?;
        app.store.lock_first_start(&mut change.tx).await?;
        if store::organizations::count(&mut change.tx).await? > 0 {
            return Ok(false);
        }
        admin.insert(&mut change, FIRST_START_ACTOR).await?;
        change.commit().await?;
        Ok::<_, ApiError>(true)
    }
    .await
    .map_err(FirstStartError::at(
        "creating organization Default and its administrator",
    ))?;
    Ok(created.then_some(FirstStart {
        email,
        generated_password: generated.then_some(password),
    }))
}

fn random_password() -> SecretString {
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
