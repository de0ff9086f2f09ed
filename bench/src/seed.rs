//! Seeding a large organization straight through the store, in bulk.
//!
//! A million users through the API would take hours of Argon2 alone. Instead every seeded user
//! gets the SAME Argon2id hash of the shared seed password, computed once with the server's own
//! parameters: each row is what the API would have stored for a user with that password (a
//! login verifies it at full cost and needs no rehash), only the salt is shared. Rows go in as
//! multi-row INSERTs, many per transaction, after the server created the schema.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::Executor;

use bf_security::domain::ids;
use bf_security::store::{Backend, Store};

/// The password every seeded user has.
pub const SEED_PASSWORD: &str = "bench seed password 42";

/// Rows per INSERT statement, and statements per transaction.
const ROWS_PER_STATEMENT: u64 = 1_000;
const STATEMENTS_PER_TRANSACTION: u64 = 50;

/// The e-mail of seeded user `i`.
pub fn email(i: u64) -> String {
    format!("user{i:07}@bench.example.com")
}

pub struct Seeded {
    pub users: u64,
    pub seconds: f64,
}

/// Adds `users` users, members of `organization_id` (their home too), all with `hash`.
pub async fn users(
    store: &Store,
    organization_id: &str,
    users: u64,
    hash: &str,
) -> Result<Seeded, String> {
    let db = |e: sqlx::Error| format!("seeding: {e}");
    let started = Instant::now();
    let bar = ProgressBar::new(users);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>28} [{bar:30}] {human_pos}/{human_len} users, {per_sec}, {eta} left",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix("seeding");
    // Creation times one millisecond apart, ending now: the list's default order is meaningful.
    let first_created = now_millis() - users as i64;
    let organization = quote(organization_id);
    let hash = quote(hash);
    let mut next = 0u64;
    while next < users {
        let mut tx = store.write().await.map_err(db)?;
        for _ in 0..STATEMENTS_PER_TRANSACTION {
            if next >= users {
                break;
            }
            let end = (next + ROWS_PER_STATEMENT).min(users);
            let mut user_rows = String::with_capacity(300 * (end - next) as usize);
            let mut member_rows = String::with_capacity(120 * (end - next) as usize);
            for i in next..end {
                let id = quote(&ids::new_id(ids::USER));
                let email = quote(&email(i));
                let created = first_created + i as i64;
                if i > next {
                    user_rows.push(',');
                    member_rows.push(',');
                }
                user_rows.push_str(&format!(
                    "({id},{organization},{email},{email},'Bench','User {i}',{hash},{created},{created})"
                ));
                // With the copy of the user's ordering fields, as the store writes them.
                member_rows.push_str(&format!(
                    "({id},{organization},{created},{created},{created},{email})"
                ));
            }
            let insert_users = format!(
                "INSERT INTO users (id, organization_id, email, email_key, first_name, last_name, \
                 password_hash, created, updated) VALUES {user_rows}"
            );
            let insert_members = format!(
                "INSERT INTO memberships (user_id, organization_id, created, user_created, \
                 user_updated, user_email_key) VALUES {member_rows}"
            );
            (&mut *tx)
                .execute(insert_users.as_str())
                .await
                .map_err(db)?;
            (&mut *tx)
                .execute(insert_members.as_str())
                .await
                .map_err(db)?;
            bar.inc(end - next);
            next = end;
        }
        // As every change to the members does (migration 0003).
        bf_security::store::organizations::bump_members_version(&mut tx, organization_id)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
    }
    if store.backend() == Backend::Postgres {
        // What autovacuum does after such a load (an insert-triggered vacuum): the visibility
        // map, without which an index-only scan still visits every table page it passes, and
        // the planner's statistics. Done here, so that the scenarios measure the steady state
        // rather than that one-time maintenance running beside them.
        for table in ["users", "memberships"] {
            store
                .pool()
                .execute(format!("VACUUM ANALYZE {table}").as_str())
                .await
                .map_err(db)?;
        }
    }
    bar.finish_and_clear();
    Ok(Seeded {
        users,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// An SQL string literal. The values quoted here are IDs, generated e-mails and a PHC hash;
/// doubling quotes keeps it right whatever they hold.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
