//! `/v1/users/{mine|email}/sessions`: a user's logins, seen and ended.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::envelope::Paged;
use super::extract::PathParams;
use super::params::{Order, QueryParams};
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::service::authz::Grant;
use crate::service::sessions::{Listed, Whose};
use crate::service::{self, AppState};

/// A session: one login (or the pairs minted from a permanent token) and its tokens.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    #[serde(rename = "userID")]
    pub user_id: String,
    /// The organization it was opened for.
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    /// How it was opened: `password`, `openid`, `passkey` (a passkey alone) or `tokens` (pairs
    /// minted from a permanent token with `generate-tokens`).
    pub method: String,
    /// Whether the caller's token belongs to it.
    pub current: bool,
    pub created: String,
    /// Same as `lastUsed`.
    pub updated: String,
    #[serde(rename = "changedBy")]
    pub changed_by: String,
    /// When it was last used, to the minute: a use is recorded at most once a minute.
    pub last_used: String,
    /// When it ends whatever its refreshes.
    pub ends: String,
    /// When it ended, in the answer of an operation that ended it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// The client address and user agent of its login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_user_agent: Option<String>,
    /// Those of its last recorded use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_user_agent: Option<String>,
}

impl From<Listed> for Session {
    fn from(l: Listed) -> Self {
        let s = l.row;
        Self {
            id: s.id,
            changed_by: s.user_id.clone(),
            user_id: s.user_id,
            organization_id: s.organization_id,
            method: s.method,
            current: l.current,
            created: rfc3339(s.created),
            updated: rfc3339(s.last_used),
            last_used: rfc3339(s.last_used),
            ends: rfc3339(s.ends),
            ended: s.ended.map(rfc3339),
            created_address: s.created_address,
            created_user_agent: s.created_user_agent,
            last_address: s.last_address,
            last_user_agent: s.last_user_agent,
        }
    }
}

/// The paging of a list of sessions or API tokens, for the OpenAPI document.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OwnListParams {
    #[param(default = 0, minimum = 0)]
    offset: Option<i64>,
    /// 1 to 500.
    #[param(default = 10, minimum = 1, maximum = 500)]
    records: Option<i64>,
    /// `created`.
    #[param(default = "created")]
    order_by: Option<String>,
    /// `ASC` or `DESC`.
    #[param(default = "DESC")]
    order: Option<String>,
}

/// `except` of "end my sessions", for the OpenAPI document.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ExceptParam {
    /// `current` keeps the session of the caller's token ("sign out everywhere else");
    /// absent, every session ends, that one included.
    except: Option<String>,
}

async fn list(
    app: &AppState,
    grant: &Grant,
    whose: Whose<'_>,
    query: &QueryParams,
) -> Result<Json<Paged<Session>>, ApiError> {
    let paging = query.paging(&["created"])?;
    let (page, more) = service::sessions::list(
        app,
        grant,
        whose,
        paging.order == Order::Desc,
        paging.offset,
        paging.records,
    )
    .await?;
    let sessions = page.into_iter().map(Session::from).collect();
    Ok(Json(Paged::page(sessions, &paging, more)))
}

#[utoipa::path(
    get, path = "/v1/users/mine/sessions", tag = "Sessions", operation_id = "getMySessions",
    summary = "List the caller's sessions",
    description = "The caller's working sessions (his logins, and the runs of pairs minted from \
        his permanent tokens), newest first, with where and when each was opened and last \
        used; `current` marks the one his token belongs to. A token bound to one organization \
        sees that organization's only.\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `400`: `offset` below 0, `records` outside 1 to 500, an unknown `order_by` or \
        `order`.\n\
        - `403`: a permanent token used from outside its address ranges.",
    params(OwnListParams),
    responses((status = 200, description = "A page of sessions", body = Paged<Session>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "The token may not be used from this address", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_my_sessions(
    State(app): State<AppState>,
    grant: Grant,
    query: QueryParams,
) -> Result<Json<Paged<Session>>, ApiError> {
    list(&app, &grant, Whose::Mine, &query).await
}

#[utoipa::path(
    delete, path = "/v1/users/mine/sessions", tag = "Sessions", operation_id = "endMySessions",
    summary = "End the caller's sessions",
    description = "Ends every working session of the caller, their access and refresh tokens at \
        once; with `except=current`, every one but the session of the caller's token (sign out \
        everywhere else). Answers the sessions ended (at most 500 of them listed).\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `400`: `except` is not `current`.\n\
        - `403`: a permanent token used from outside its address ranges.",
    params(ExceptParam),
    responses((status = 200, description = "The sessions ended", body = Paged<Session>),
        (status = 400, description = "`except` is not `current`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The token may not be used from this address", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn end_my_sessions(
    State(app): State<AppState>,
    grant: Grant,
    query: QueryParams,
) -> Result<Json<Paged<Session>>, ApiError> {
    let keep_current = match query.get("except").map(str::trim) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("current") => true,
        Some(_) => return Err(ApiError::invalid("except", "except must be current")),
    };
    let ended = service::sessions::end_all(&app, &grant, Whose::Mine, keep_current).await?;
    Ok(Json(Paged::all(
        ended.into_iter().map(Session::from).collect(),
    )))
}

#[utoipa::path(
    delete, path = "/v1/users/mine/sessions/{session_id}", tag = "Sessions",
    operation_id = "endMySession",
    summary = "End one of the caller's sessions",
    description = "Ends one working session of the caller, its access and refresh tokens at \
        once (his current one too, if named: that is logging out).\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `403`: a permanent token used from outside its address ranges.\n\
        - `404`: no such working session of the caller (another user's, another \
        organization's for a bound token, or one that ended).",
    params(("session_id" = String, Path, description = "The session's ID")),
    responses((status = 200, description = "The session ended", body = Paged<Session>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The token may not be used from this address", body = ErrorBody),
        (status = 404, description = "No such working session of the caller", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn end_my_session(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
) -> Result<Json<Paged<Session>>, ApiError> {
    let ended = service::sessions::end_one(&app, &grant, Whose::Mine, &id).await?;
    Ok(Json(Paged::one(ended.into())))
}

#[utoipa::path(
    get, path = "/v1/users/{email}/sessions", tag = "Sessions", operation_id = "getUserSessions",
    summary = "List a user's sessions",
    description = "The working sessions of a member of the acting organizations, newest first.\n\n\
        **Needs** `Users:update` in every acting organization, and every permission the \
        user holds in every organization he belongs to (only a platform administrator acts on \
        a platform administrator).\n\n\
        **Errors**\n\
        - `400`: `offset` below 0, `records` outside 1 to 500, an unknown `order_by` or \
        `order`.\n\
        - `403`: without `Users:update`, or holding less than the user.\n\
        - `404`: no such user in the acting organizations.",
    params(("email" = String, Path, description = "The user's e-mail"), OwnListParams,
        super::query_docs::OrganizationsParam),
    responses((status = 200, description = "A page of sessions", body = Paged<Session>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Without `Users:update`, or holding less than the user", body = ErrorBody),
        (status = 404, description = "No such user in the acting organizations", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_user_sessions(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(email): PathParams<String>,
    query: QueryParams,
) -> Result<Json<Paged<Session>>, ApiError> {
    list(&app, &grant, Whose::User(&email), &query).await
}

#[utoipa::path(
    delete, path = "/v1/users/{email}/sessions", tag = "Sessions", operation_id = "endUserSessions",
    summary = "End all of a user's sessions",
    description = "Ends every working session of a member of the acting organizations, their \
        access and refresh tokens at once. Answers the sessions ended (at most 500 of them \
        listed).\n\n\
        **Needs** `Users:update` in every acting organization, and every permission the \
        user holds in every organization he belongs to (only a platform administrator acts on \
        a platform administrator).\n\n\
        **Errors**\n\
        - `403`: without `Users:update`, or holding less than the user.\n\
        - `404`: no such user in the acting organizations.",
    params(("email" = String, Path, description = "The user's e-mail"),
        super::query_docs::OrganizationsParam),
    responses((status = 200, description = "The sessions ended", body = Paged<Session>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Without `Users:update`, or holding less than the user", body = ErrorBody),
        (status = 404, description = "No such user in the acting organizations", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn end_user_sessions(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(email): PathParams<String>,
) -> Result<Json<Paged<Session>>, ApiError> {
    let ended = service::sessions::end_all(&app, &grant, Whose::User(&email), false).await?;
    Ok(Json(Paged::all(
        ended.into_iter().map(Session::from).collect(),
    )))
}

#[utoipa::path(
    delete, path = "/v1/users/{email}/sessions/{session_id}", tag = "Sessions",
    operation_id = "endUserSession",
    summary = "End one of a user's sessions",
    description = "Ends one working session of a member of the acting organizations, its access \
        and refresh tokens at once.\n\n\
        **Needs** `Users:update` in every acting organization, and every permission the \
        user holds in every organization he belongs to (only a platform administrator acts on \
        a platform administrator).\n\n\
        **Errors**\n\
        - `403`: without `Users:update`, or holding less than the user.\n\
        - `404`: no such user in the acting organizations, or no such working session of his.",
    params(("email" = String, Path, description = "The user's e-mail"),
        ("session_id" = String, Path, description = "The session's ID"),
        super::query_docs::OrganizationsParam),
    responses((status = 200, description = "The session ended", body = Paged<Session>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Without `Users:update`, or holding less than the user", body = ErrorBody),
        (status = 404, description = "No such user in the acting organizations, or no such working session of his", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn end_user_session(
    State(app): State<AppState>,
    grant: Grant,
    PathParams((email, id)): PathParams<(String, String)>,
) -> Result<Json<Paged<Session>>, ApiError> {
    let ended = service::sessions::end_one(&app, &grant, Whose::User(&email), &id).await?;
    Ok(Json(Paged::one(ended.into())))
}
