//! Second factors (TOTP, passkeys), passkey registrations and logins under way, recovery codes,
//! the second step of a login (`mfa_token`), the organizations' policies, and how a session
//! stood to them.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::clock::Millis;

#[derive(Debug, Clone)]
pub struct FactorRow {
    pub id: String,
    pub user_id: String,
    /// `totp` or `webauthn`.
    pub kind: String,
    pub name: String,
    /// Sealed (`security::sealing`): for `totp` the secret, for `webauthn` the passkey.
    pub credential: String,
    pub created: Millis,
    /// None while pending.
    pub confirmed: Option<Millis>,
    pub last_used: Option<Millis>,
    /// The last TOTP step accepted.
    pub last_step: Option<i64>,
}

const FACTOR_COLUMNS: &str =
    "id, user_id, kind, name, credential, created, confirmed, last_used, last_step";

fn factor(r: &AnyRow) -> Result<FactorRow, sqlx::Error> {
    Ok(FactorRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        credential: r.try_get("credential")?,
        created: r.try_get("created")?,
        confirmed: r.try_get("confirmed")?,
        last_used: r.try_get("last_used")?,
        last_step: r.try_get("last_step")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, f: &FactorRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO second_factors ({FACTOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&f.id)
    .bind(&f.user_id)
    .bind(&f.kind)
    .bind(&f.name)
    .bind(&f.credential)
    .bind(f.created)
    .bind(f.confirmed)
    .bind(f.last_used)
    .bind(f.last_step)
    .execute(conn)
    .await?;
    Ok(())
}

/// A user's factors, pending ones included, oldest first.
pub async fn of_user(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<FactorRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {FACTOR_COLUMNS} FROM second_factors WHERE user_id = $1 ORDER BY created, id"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(factor)
    .collect()
}

/// Whether the user has a confirmed factor.
pub async fn has_confirmed(conn: &mut AnyConnection, user_id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM second_factors WHERE user_id = $1 AND confirmed IS NOT NULL",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Records the use of a TOTP code of `step`, unless a code of that step or a later one was
/// accepted already; answers whether this call recorded it, so that of two uses of one code
/// at once only one succeeds. Confirms a pending factor.
pub async fn accept_step(
    conn: &mut AnyConnection,
    id: &str,
    step: i64,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE second_factors
         SET last_step = $1, last_used = $2, confirmed = COALESCE(confirmed, $2)
         WHERE id = $3 AND (last_step IS NULL OR last_step < $1)",
    )
    .bind(step)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a factor's credential after a use (a passkey's signature counter moves on).
pub async fn update_credential(
    conn: &mut AnyConnection,
    id: &str,
    credential: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE second_factors SET credential = $1, last_used = $2 WHERE id = $3")
        .bind(credential)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A passkey registration started and not finished.
pub struct RegistrationRow {
    pub id: String,
    pub user_id: String,
    /// Sealed, with the ID as associated data.
    pub state: String,
    pub created: Millis,
    pub expires: Millis,
}

/// Records a registration started; forgets those expired.
pub async fn insert_registration(
    conn: &mut AnyConnection,
    r: &RegistrationRow,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webauthn_registrations WHERE expires <= $1")
        .bind(r.created)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO webauthn_registrations (id, user_id, state, created, expires)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&r.id)
    .bind(&r.user_id)
    .bind(&r.state)
    .bind(r.created)
    .bind(r.expires)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a live registration of the user, once: answers its sealed state, and deletes it so
/// that no second request finishes it, whatever the outcome of this one.
pub async fn take_registration(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
    now: Millis,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM webauthn_registrations WHERE id = $1 AND user_id = $2 AND expires > $3
         RETURNING state",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM second_factors WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the user's factors and recovery codes; answers how many factors there were.
pub async fn delete_all_of(conn: &mut AnyConnection, user_id: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM second_factors WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    delete_recovery_codes(conn, user_id).await?;
    Ok(done.rows_affected())
}

pub async fn delete_recovery_codes(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces the user's recovery codes with new ones (by digest).
pub async fn replace_recovery_codes(
    conn: &mut AnyConnection,
    user_id: &str,
    digests: &[(String, String)],
    now: Millis,
) -> Result<(), sqlx::Error> {
    delete_recovery_codes(conn, user_id).await?;
    for (id, digest) in digests {
        sqlx::query(
            "INSERT INTO recovery_codes (id, user_id, digest, created, used)
             VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(id)
        .bind(user_id)
        .bind(digest)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Spends an unused recovery code of the user; answers whether this call did.
pub async fn use_recovery_code(
    conn: &mut AnyConnection,
    user_id: &str,
    digest: &str,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used = $1 WHERE user_id = $2 AND digest = $3 AND used IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(digest)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The user's recovery codes not used yet.
pub async fn recovery_codes_left(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used IS NULL")
        .bind(user_id)
        .fetch_one(conn)
        .await
}

/// The second step of a login, waiting for its code.
#[derive(Debug, Clone)]
pub struct ChallengeRow {
    pub id: String,
    pub digest: String,
    pub user_id: String,
    /// The organization the login asked for, as asked (none: the user's home).
    pub organization_id: Option<String>,
    /// The client it was answered to (its address and `client_id`), which alone may continue.
    pub client: String,
    /// How the first step was passed: `password` or `openid`.
    pub method: String,
    /// The first step's audit details (JSON), carried to the session's event.
    pub details: Option<String>,
    pub created: Millis,
    pub expires: Millis,
    pub used: Option<Millis>,
    pub failed_attempts: i64,
    /// The passkey authentication started with it (sealed), if the user has a passkey.
    pub webauthn: Option<String>,
}

const CHALLENGE_COLUMNS: &str = "id, digest, user_id, organization_id, client, method, details, \
    created, expires, used, failed_attempts, webauthn";

pub async fn insert_challenge(
    conn: &mut AnyConnection,
    c: &ChallengeRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO mfa_challenges ({CHALLENGE_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&c.id)
    .bind(&c.digest)
    .bind(&c.user_id)
    .bind(&c.organization_id)
    .bind(&c.client)
    .bind(&c.method)
    .bind(&c.details)
    .bind(c.created)
    .bind(c.expires)
    .bind(c.used)
    .bind(c.failed_attempts)
    .bind(&c.webauthn)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_challenge(
    conn: &mut AnyConnection,
    digest: &str,
) -> Result<Option<ChallengeRow>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE digest = $1"
    ))
    .bind(digest)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(ChallengeRow {
            id: r.try_get("id")?,
            digest: r.try_get("digest")?,
            user_id: r.try_get("user_id")?,
            organization_id: r.try_get("organization_id")?,
            client: r.try_get("client")?,
            method: r.try_get("method")?,
            details: r.try_get("details")?,
            created: r.try_get("created")?,
            expires: r.try_get("expires")?,
            used: r.try_get("used")?,
            failed_attempts: r.try_get("failed_attempts")?,
            webauthn: r.try_get("webauthn")?,
        })
    })
    .transpose()
}

/// Spends a live challenge; answers whether this call did, so that one `mfa_token` opens one
/// session however many requests carry it at once.
pub async fn spend_challenge(
    conn: &mut AnyConnection,
    id: &str,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE mfa_challenges SET used = $1 WHERE id = $2 AND used IS NULL AND expires > $1",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a wrong code against a challenge; at `max` wrong codes it is spent. Answers the
/// wrong codes counted so far.
pub async fn fail_challenge(
    conn: &mut AnyConnection,
    id: &str,
    max: i64,
    now: Millis,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE mfa_challenges
         SET failed_attempts = failed_attempts + 1,
             used = CASE WHEN failed_attempts + 1 >= $1 THEN $2 ELSE used END
         WHERE id = $3
         RETURNING failed_attempts",
    )
    .bind(max)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Forgets challenges that can no longer be used.
pub async fn prune_challenges(conn: &mut AnyConnection, now: Millis) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM mfa_challenges WHERE expires <= $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether the organization requires a second factor of its members.
pub async fn required_in(
    conn: &mut AnyConnection,
    organization_id: &str,
) -> Result<bool, sqlx::Error> {
    let required: Option<i64> =
        sqlx::query_scalar("SELECT required FROM mfa_policies WHERE organization_id = $1")
            .bind(organization_id)
            .fetch_optional(conn)
            .await?;
    Ok(required.unwrap_or(0) != 0)
}

/// The policy's last change: when and by whom; none if never set.
pub async fn policy_changed(
    conn: &mut AnyConnection,
    organization_id: &str,
) -> Result<Option<(Millis, Option<String>)>, sqlx::Error> {
    let row =
        sqlx::query("SELECT updated, changed_by FROM mfa_policies WHERE organization_id = $1")
            .bind(organization_id)
            .fetch_optional(conn)
            .await?;
    row.map(|r| Ok((r.try_get("updated")?, r.try_get("changed_by")?)))
        .transpose()
}

pub async fn set_policy(
    conn: &mut AnyConnection,
    organization_id: &str,
    policy: PolicyRow,
    now: Millis,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mfa_policies (organization_id, required, passkey_login, updated, changed_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (organization_id)
         DO UPDATE SET required = excluded.required, passkey_login = excluded.passkey_login,
             updated = excluded.updated, changed_by = excluded.changed_by",
    )
    .bind(organization_id)
    .bind(super::flag(policy.required))
    .bind(super::flag(policy.passkey_login))
    .bind(now)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// What an organization asks of its members' logins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyRow {
    /// A second factor is required.
    pub required: bool,
    /// A passkey alone logs in.
    pub passkey_login: bool,
}

/// An organization's policy; the default (nothing required, no passkey alone) if never set.
pub async fn policy_of(
    conn: &mut AnyConnection,
    organization_id: &str,
) -> Result<PolicyRow, sqlx::Error> {
    let row =
        sqlx::query("SELECT required, passkey_login FROM mfa_policies WHERE organization_id = $1")
            .bind(organization_id)
            .fetch_optional(conn)
            .await?;
    let Some(row) = row else {
        return Ok(PolicyRow::default());
    };
    Ok(PolicyRow {
        required: row.try_get::<i64, _>("required")? != 0,
        passkey_login: row.try_get::<i64, _>("passkey_login")? != 0,
    })
}

/// Whether a credential ID's digest is a passkey factor's already (any user's).
pub async fn lookup_taken(conn: &mut AnyConnection, lookup: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM second_factors WHERE lookup = $1")
        .bind(lookup)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// Records the digest a passkey factor is found by, unless it has one or another factor has it
/// (a credential serves one user).
pub async fn set_lookup(
    conn: &mut AnyConnection,
    factor_id: &str,
    lookup: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE second_factors SET lookup = $1
         WHERE id = $2 AND lookup IS NULL
           AND NOT EXISTS (SELECT 1 FROM second_factors WHERE lookup = $3)",
    )
    .bind(lookup)
    .bind(factor_id)
    .bind(lookup)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The confirmed passkey factor a credential ID's digest names, if any.
pub async fn by_lookup(
    conn: &mut AnyConnection,
    lookup: &str,
) -> Result<Option<FactorRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {FACTOR_COLUMNS} FROM second_factors
         WHERE lookup = $1 AND kind = 'webauthn' AND confirmed IS NOT NULL"
    ))
    .bind(lookup)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(factor)
    .transpose()
}

/// Spends a login with a passkey alone, by its ceremony ID's digest: false if it was spent
/// already. Forgets the spent ones whose ceremony has expired.
pub async fn spend_passkey_login(
    conn: &mut AnyConnection,
    digest: &str,
    expires: Millis,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM passkey_logins_spent WHERE expires <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query(
        "INSERT INTO passkey_logins_spent (digest, expires) VALUES ($1, $2)
         ON CONFLICT (digest) DO NOTHING",
    )
    .bind(digest)
    .bind(expires)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records how a session's login stood to second factors (`passed` or `enrol`).
pub async fn mark_session(
    conn: &mut AnyConnection,
    session_id: &str,
    state: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET second_factor = $1 WHERE id = $2")
        .bind(state)
        .bind(session_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that a permanent token was made by a login that passed a second factor.
pub async fn mark_token(
    conn: &mut AnyConnection,
    token_id: &str,
    state: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tokens SET second_factor = $1 WHERE id = $2 AND kind = 'permanent'")
        .bind(state)
        .bind(token_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How the login behind a token stood to second factors, by the token's family (or, for a
/// permanent token, its own ID): a session's standing, or a permanent token's, whose pairs
/// are named after it. None when no factor was asked.
pub async fn standing(conn: &mut AnyConnection, id: &str) -> Result<Option<String>, sqlx::Error> {
    let states: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT second_factor FROM sessions WHERE id = $1
         UNION ALL
         SELECT second_factor FROM tokens WHERE id = $2 AND kind = 'permanent'",
    )
    .bind(id)
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(states.into_iter().flatten().next())
}

/// Whether the user is a member of an organization that requires a second factor.
pub async fn required_of_member(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM mfa_policies p
         JOIN memberships m ON m.organization_id = p.organization_id
         WHERE m.user_id = $1 AND p.required <> 0",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?;
    Ok(count > 0)
}
