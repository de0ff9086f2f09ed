//! `/v1/invitations`: an organization's invitations as objects (listed, resent, revoked), and
//! `/v1/users/mine/invitations`: the invitations made for the caller, which he accepts or
//! declines.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::envelope::Paged;
use super::extract::PathParams;
use super::params::{Order, QueryParams};
use super::query_docs::OrganizationsParam;
use super::views::User;
use crate::clock::rfc3339;
use crate::domain::InvitationState;
use crate::error::{ApiError, ErrorBody};
use crate::service::authz::Grant;
use crate::service::invitations::InvitationQuery;
use crate::service::invitees::InvitationForMe;
use crate::service::{self, AppState};
use crate::store::codes::{CodeRow, InvitationOrder};

/// An invitation as its organization sees it. Never carries its code.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    /// The address invited, as typed.
    pub email: String,
    /// `pending`, `accepted`, `declined`, `expired` or `revoked` (also when a newer invitation
    /// of the organization replaced it).
    pub state: String,
    /// The roles accepting gives (those still live then).
    #[serde(rename = "roleIDs")]
    pub role_ids: Vec<String>,
    /// Whether accepting it enables the user it created (who sets his first password with it).
    pub creates_user: bool,
    pub created: String,
    pub updated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// The user who invited.
    #[serde(rename = "invitedByID", skip_serializing_if = "Option::is_none")]
    pub invited_by_id: Option<String>,
    /// When its code was last made: at the invitation, or its latest resend.
    pub sent: String,
    /// When its code stops (or stopped) working, unless it ended before.
    pub expires: String,
    /// When it was accepted, declined or revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

impl Invitation {
    fn new(row: CodeRow, state: InvitationState) -> Self {
        let role_ids = row.role_ids();
        Self {
            organization_id: row.organization_id.unwrap_or_default(),
            email: row.email.unwrap_or_default(),
            state: state.as_str().to_string(),
            role_ids,
            creates_user: row.enables_user,
            created: rfc3339(row.created),
            updated: rfc3339(row.updated),
            changed_by: row.changed_by,
            invited_by_id: row.created_by,
            sent: rfc3339(row.sent),
            expires: rfc3339(row.expires),
            ended: row.outcome.and(row.used).map(rfc3339),
            id: row.id,
        }
    }
}

/// An invitation as its invitee sees it: who invites him where, and until when.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationForInvitee {
    pub id: String,
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    pub organization_name: String,
    #[serde(rename = "invitedByID", skip_serializing_if = "Option::is_none")]
    pub invited_by_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_by_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_by_first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_by_last_name: Option<String>,
    pub created: String,
    pub updated: String,
    pub expires: String,
}

impl From<InvitationForMe> for InvitationForInvitee {
    fn from(i: InvitationForMe) -> Self {
        let (id, email, first, last) = match i.invited_by {
            Some(by) => (Some(by.id), Some(by.email), by.first_name, by.last_name),
            None => (None, None, None, None),
        };
        Self {
            id: i.id,
            organization_id: i.organization_id,
            organization_name: i.organization_name,
            invited_by_id: id,
            invited_by_email: email,
            invited_by_first_name: first,
            invited_by_last_name: last,
            created: rfc3339(i.created),
            updated: rfc3339(i.updated),
            expires: rfc3339(i.expires),
        }
    }
}

/// The query of `GET /v1/invitations`, for the OpenAPI document (parsed in the handler).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct InvitationListParams {
    organizations: Option<Vec<String>>,
    /// Only invitations in these states (repeat the parameter, or separate by commas):
    /// `pending`, `accepted`, `declined`, `expired`, `revoked`. All by default.
    state: Option<Vec<String>>,
    #[param(default = 0, minimum = 0)]
    offset: Option<i64>,
    /// 1 to 500.
    #[param(default = 10, minimum = 1, maximum = 500)]
    records: Option<i64>,
    /// `created`, `updated` or `email`.
    #[param(default = "created")]
    order_by: Option<String>,
    /// `ASC` or `DESC`.
    #[param(default = "DESC")]
    order: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/invitations", tag = "Invitations", operation_id = "getInvitations",
    summary = "List the invitations of the acting organizations",
    description = "The invitations made into the acting organizations, newest first by default, \
        each with where it stands (`pending`, `accepted`, `declined`, `expired`, `revoked`); \
        `state` narrows the list. Codes are never shown.\n\n\
        **Needs** `Invitations:read` in every acting organization.\n\n\
        **Errors**\n\
        - `400`: an unknown `state`, `offset` below 0, `records` outside 1 to 500, an unknown \
        `order_by` or `order`.\n\
        - `403`: without `Invitations:read` in an acting organization, or not a member of it.",
    params(InvitationListParams),
    responses(
        (status = 200, description = "A page of invitations", body = Paged<Invitation>),
        (status = 400, description = "A bad paging parameter or state (`errorParameters` names it)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The caller lacks `Invitations:read` in an acting organization, \
            or is not a member of it", body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_invitations(
    State(app): State<AppState>,
    grant: Grant,
    query: QueryParams,
) -> Result<Json<Paged<Invitation>>, ApiError> {
    let paging = query.paging(&["created", "updated", "email"])?;
    let mut states = Vec::new();
    for s in query.all("state") {
        let state = InvitationState::parse(&s).ok_or_else(|| {
            ApiError::invalid(
                "state",
                "state must be pending, accepted, declined, expired or revoked",
            )
        })?;
        if !states.contains(&state) {
            states.push(state);
        }
    }
    let order = match paging.order_by {
        "updated" => InvitationOrder::Updated,
        "email" => InvitationOrder::Email,
        _ => InvitationOrder::Created,
    };
    let request = InvitationQuery {
        states,
        order,
        descending: paging.order == Order::Desc,
        offset: paging.offset,
        records: paging.records,
    };
    let (rows, more) = service::invitations::list(&app, &grant, &request).await?;
    let page = rows
        .into_iter()
        .map(|(row, state)| Invitation::new(row, state))
        .collect();
    Ok(Json(Paged::page(page, &paging, more)))
}

#[utoipa::path(
    post, path = "/v1/invitations/{id}/resend", tag = "Invitations", operation_id = "resendInvitation",
    summary = "Mail an invitation again with a new code",
    description = "Mails a pending or expired invitation again with a new code; the previous \
        code stops working at once, and the invitation's life starts again, as long as it was \
        first given. The code is only mailed, never answered.\n\n\
        **Needs** `Invitations:update` in every acting organization, and, as inviting does, \
        every permission of the roles the invitation gives.\n\n\
        **Errors**\n\
        - `403`: without `Invitations:update`, or a permission of the invitation's roles the \
        caller lacks.\n\
        - `404`: no such invitation in the acting organizations.\n\
        - `409`: the invitation was accepted, declined or revoked.\n\
        - `429`: the invitation was resent too often this hour \
        (`BF_INVITATION_RESENDS_PER_HOUR`).",
    params(("id" = String, Path, description = "The invitation's ID"), OrganizationsParam),
    responses(
        (status = 200, description = "The invitation, pending again", body = Paged<Invitation>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The caller lacks `Invitations:update`, or a permission of \
            the invitation's roles", body = ErrorBody),
        (status = 404, description = "No such invitation in the acting organizations", body = ErrorBody),
        (status = 409, description = "The invitation was accepted, declined or revoked", body = ErrorBody),
        (status = 429, description = "The invitation was resent too often this hour", body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn resend_invitation(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
) -> Result<Json<Paged<Invitation>>, ApiError> {
    let row = service::invitations::resend(&app, &grant, &id).await?;
    let state = row.state(app.clock.now());
    Ok(Json(Paged::one(Invitation::new(row, state))))
}

#[utoipa::path(
    delete, path = "/v1/invitations/{id}", tag = "Invitations", operation_id = "revokeInvitation",
    summary = "Revoke an invitation",
    description = "Ends an invitation that has not ended: its code stops working. A user the \
        invitation created who never used his account and belongs to nothing else is retired \
        with it, and his e-mail is free again; nobody else is touched.\n\n\
        **Needs** `Invitations:delete` in every acting organization.\n\n\
        **Errors**\n\
        - `403`: without `Invitations:delete`.\n\
        - `404`: no such invitation in the acting organizations.\n\
        - `409`: the invitation was accepted, declined or revoked already.",
    params(("id" = String, Path, description = "The invitation's ID"), OrganizationsParam),
    responses(
        (status = 200, description = "The revoked invitation", body = Paged<Invitation>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The caller lacks `Invitations:delete`", body = ErrorBody),
        (status = 404, description = "No such invitation in the acting organizations", body = ErrorBody),
        (status = 409, description = "The invitation was accepted, declined or revoked already", body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn revoke_invitation(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
) -> Result<Json<Paged<Invitation>>, ApiError> {
    let (row, _) = service::invitations::revoke(&app, &grant, &id).await?;
    let state = row.state(app.clock.now());
    Ok(Json(Paged::one(Invitation::new(row, state))))
}

#[utoipa::path(
    get, path = "/v1/users/mine/invitations", tag = "Invitations", operation_id = "getMyInvitations",
    summary = "List the invitations the caller may accept",
    description = "Pending invitations made for the caller's e-mail, from any organization, \
        oldest first: which organization, who invited him, and until when.\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `401`: no token, or one that is invalid, expired or revoked.",
    responses(
        (status = 200, description = "His pending invitations, oldest first", body = Paged<InvitationForInvitee>),
        (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_my_invitations(
    State(app): State<AppState>,
    grant: Grant,
) -> Result<Json<Paged<InvitationForInvitee>>, ApiError> {
    let mine = service::invitees::pending(&app, &grant).await?;
    Ok(Json(Paged::all(mine.into_iter().map(Into::into).collect())))
}

#[utoipa::path(
    post, path = "/v1/users/mine/invitations/{id}/accept", tag = "Invitations",
    operation_id = "acceptMyInvitation",
    summary = "Accept an invitation made for the caller",
    description = "The caller joins the inviting organization with the invitation's roles (those \
        still live), as accepting with its code does, and is answered with his roles there.\n\n\
        **Needs** any valid token: the caller's own, the invitation being made for his e-mail.\n\n\
        **Errors**\n\
        - `404`: no pending invitation of that ID made for the caller.",
    params(("id" = String, Path, description = "The invitation's ID")),
    responses(
        (status = 200, description = "The caller, with his roles in the organization he joined", body = Paged<User>),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No pending invitation of that ID for the caller", body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn accept_my_invitation(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
) -> Result<Json<Paged<User>>, ApiError> {
    let answer = service::invitees::accept(&app, &grant, &id).await?;
    Ok(Json(Paged::one(User::new(answer.user, answer.roles))))
}

#[utoipa::path(
    post, path = "/v1/users/mine/invitations/{id}/decline", tag = "Invitations",
    operation_id = "declineMyInvitation",
    summary = "Decline an invitation made for the caller",
    description = "The invitation ends and its code stops working; the caller stays as he was.\n\n\
        **Needs** any valid token: the caller's own, the invitation being made for his e-mail.\n\n\
        **Errors**\n\
        - `404`: no pending invitation of that ID made for the caller.",
    params(("id" = String, Path, description = "The invitation's ID")),
    responses(
        (status = 200, description = "The declined invitation", body = Paged<InvitationForInvitee>),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No pending invitation of that ID for the caller", body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn decline_my_invitation(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
) -> Result<Json<Paged<InvitationForInvitee>>, ApiError> {
    let declined = service::invitees::decline(&app, &grant, &id).await?;
    Ok(Json(Paged::one(declined.into())))
}
