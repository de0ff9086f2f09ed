//! The scenarios: what each virtual user does per step, and what a step must answer to count
//! as a success.

use serde_json::{json, Value};

use std::time::Duration;

use crate::api::{Api, Granted, Pair};
use crate::seed;

/// A user of the seed who logs in once, then keeps his own tokens.
pub struct Member {
    pub index: u64,
    pub pair: Pair,
    pub permanent: Option<String>,
    pub steps: u64,
}

/// Logs in `count` distinct seeded users from the `first` at once (not timed).
pub async fn members(api: &Api, first: u64, count: u64) -> Result<Vec<Member>, String> {
    let mut tasks = tokio::task::JoinSet::new();
    for index in first..first + count {
        let api = api.clone();
        tasks.spawn(async move {
            let email = seed::email(index);
            // All at once, more than the server's hashing queue takes: the ones it refuses
            // come back as it asks.
            let pair = loop {
                match api.login_or_shed(&email, seed::SEED_PASSWORD).await? {
                    Granted::Pair(pair) => break pair,
                    Granted::Shed { retry_after } => {
                        tokio::time::sleep(Duration::from_secs(retry_after)).await
                    }
                }
            };
            Ok::<_, String>(Member {
                index,
                pair,
                permanent: None,
                steps: 0,
            })
        });
    }
    let mut members = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        members.push(joined.map_err(|e| e.to_string())??);
    }
    members.sort_by_key(|m| m.index);
    Ok(members)
}

/// Gives each member his permanent API token (not timed).
pub async fn with_permanent_tokens(api: &Api, members: &mut [Member]) -> Result<(), String> {
    for m in members.iter_mut() {
        let answer = api
            .post_json(
                "/v1/users/generate-permanent-api-token",
                &m.pair.access_token,
                &json!({ "description": "bf-bench" }),
            )
            .await?;
        let token = answer["access_token"]
            .as_str()
            .ok_or("generate-permanent-api-token: no access_token in the answer")?;
        m.permanent = Some(token.to_string());
    }
    Ok(())
}

/// The kinds of steps of the login scenarios: a login answered, or refused at once because the
/// server's hashing queue was full (the client then waits as `Retry-After` asks).
pub const LOGGED_IN: usize = 0;
pub const SHED: usize = 1;

/// One password login per step, walking the seeded users so that no two steps of the run log
/// in the same user.
pub async fn login(
    api: Api,
    users: u64,
    stride: u64,
    next: u64,
) -> (u64, usize, Result<(), String>) {
    let email = seed::email(next % users);
    match api.login_or_shed(&email, seed::SEED_PASSWORD).await {
        Ok(Granted::Pair(_)) => (next + stride, LOGGED_IN, Ok(())),
        Ok(Granted::Shed { retry_after }) => {
            tokio::time::sleep(Duration::from_secs(retry_after)).await;
            (next, SHED, Ok(()))
        }
        Err(e) => (next + stride, LOGGED_IN, Err(e)),
    }
}

/// Rotates the member's refresh token.
pub async fn refresh(api: Api, mut m: Member) -> (Member, Result<(), String>) {
    match api.refresh(&m.pair.refresh_token).await {
        Ok(pair) => {
            m.pair = pair;
            (m, Ok(()))
        }
        Err(e) => (m, Err(e)),
    }
}

#[derive(Clone, Copy)]
pub enum Credential {
    Temporary,
    Permanent,
}

/// `GET /v1/users/mine` with one of the member's tokens.
pub async fn read_mine(
    api: Api,
    m: Member,
    credential: Credential,
) -> (Member, Result<(), String>) {
    let token = match credential {
        Credential::Temporary => m.pair.access_token.as_str(),
        Credential::Permanent => m.permanent.as_deref().unwrap_or(""),
    };
    let result = api.get_ok("/v1/users/mine", token).await.map(|_| ());
    (m, result)
}

/// `POST /v1/oauth/introspect` of the member's access token, asked by `caller` (as another
/// service of the platform would, holding `Tokens:introspect`): it must be described as live.
pub async fn introspect(api: Api, m: Member, caller: &str) -> (Member, Result<(), String>) {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &m.pair.access_token)
        .finish();
    let result = match api.post_form_ok("/v1/oauth/introspect", caller, form).await {
        // The answer leads with `active` (RFC 7662's field order): no need to parse it all.
        Ok(body) if body.starts_with(br#"{"active":true"#) => Ok(()),
        Ok(body) => Err(format!(
            "POST /v1/oauth/introspect: not described as active: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
        Err(e) => Err(e),
    };
    (m, result)
}

/// The kinds of steps of the mix of reads and refreshes.
pub const READ: usize = 0;
pub const REFRESH: usize = 1;

/// Reads with the access token and refreshes, 80 to 15 (16 to 3), in a fixed cycle of 19 steps
/// whose phase differs per member, so the mix holds at every instant.
pub async fn reads_and_refreshes(api: Api, mut m: Member) -> (Member, usize, Result<(), String>) {
    let turn = (m.steps + m.index) % 19;
    m.steps += 1;
    match turn {
        0..=2 => {
            let (m, r) = refresh(api, m).await;
            (m, REFRESH, r)
        }
        _ => {
            let (m, r) = read_mine(api, m, Credential::Temporary).await;
            (m, READ, r)
        }
    }
}

/// A page of `GET /v1/users` as the contract shapes it: the envelope, `records` results at
/// `offset`.
pub async fn list_page(api: Api, token: &str, offset: u64, records: u64) -> Result<(), String> {
    let path = format!("/v1/users?offset={offset}&records={records}");
    let body = api.get_ok(&path, token).await?;
    let page: Value = serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}"))?;
    let returned = page["results"].as_array().map(|r| r.len() as u64);
    if returned != Some(records) || page["currentOffset"].as_u64() != Some(offset) {
        return Err(format!(
            "GET {path}: expected {records} results at offset {offset}, got {} at {}",
            returned.map_or("no".into(), |n| n.to_string()),
            page["currentOffset"]
        ));
    }
    Ok(())
}

/// `GET /v1/users/username/{email}` of the seeded user `index`.
pub async fn lookup(api: Api, token: &str, index: u64) -> Result<(), String> {
    let email = seed::email(index);
    let path = format!("/v1/users/username/{email}");
    let body = api.get_ok(&path, token).await?;
    let page: Value = serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}"))?;
    if page["results"][0]["email"].as_str() != Some(email.as_str()) {
        return Err(format!("GET {path}: not that user in the answer"));
    }
    Ok(())
}
