//! `/v1/users/...`: the caller himself, his organizations and tokens, and user management.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::envelope::Paged;
use super::extract::{parse_json, read_body, JsonBody, PathParams};
use super::oauth::NoStore;
use super::params::{Order, QueryParams};
use super::query_docs::{OrganizationsParam, UserListParams};
use super::requests::*;
use super::views::{token_scope, LoginLimits, OAuthToken, Organization, TokensResponse, User};
use crate::error::{ApiError, ErrorBody};
use crate::origin;
use crate::service::authz::Grant;
use crate::service::{self, AppState};
use crate::store::memberships::MemberOrder;

#[utoipa::path(
    get, path = "/v1/users/mine", tag = "Security", operation_id = "getCurrentUser",
    params(OrganizationsParam),
    responses(
        (status = 200, description = "The caller, with his roles in the acting organizations", body = Paged<User>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn get_current_user(
    State(app): State<AppState>,
    grant: Grant,
) -> Result<Json<Paged<User>>, ApiError> {
    let view = service::users::current(&app, grant.caller()?, &grant.organization_ids()).await?;
    Ok(Json(Paged::one(User::new(
        view.user.clone(),
        view.roles.clone(),
    ))))
}

#[utoipa::path(
    get, path = "/v1/users/mine/organizations", tag = "Security", operation_id = "getMyOrganizations",
    responses(
        (status = 200, description = "The organizations the caller is a member of", body = Paged<Organization>),
        (status = 401, body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn get_my_organizations(
    State(app): State<AppState>,
    grant: Grant,
) -> Result<Json<Paged<Organization>>, ApiError> {
    let organizations = service::users::organizations_of(&app, grant.caller()?).await?;
    Ok(Json(Paged::all(
        organizations.into_iter().map(Organization::from).collect(),
    )))
}

#[utoipa::path(
    post, path = "/v1/users/generate-permanent-api-token", tag = "Security",
    operation_id = "getPrivatePermanentApiToken",
    request_body(content = UserPrivatePermanentTokenRequest, content_type = "*/*"),
    responses(
        (status = 200, description = "The new permanent token; its secret is shown only here", body = OAuthToken,
            headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`")),
            links(
                ("rotate" = (operation_id = "refreshPermanentApiToken",
                    request_body = "$response.body",
                    description = "Rotates it: a new token, the old one ending now or after a grace period")),
                ("revoke" = (operation_id = "revokeToken",
                    request_body = "token={$response.body#/access_token}",
                    description = "Revokes it, with the pairs minted from it")),
            )),
        (status = 409, description = "One exists already: refresh it", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn get_private_permanent_api_token(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<UserPrivatePermanentTokenRequest>,
) -> Result<NoStore<Json<OAuthToken>>, ApiError> {
    let issued = service::tokens::issue_permanent(
        &app,
        &grant,
        body.organization_id.as_deref(),
        body.user_id.as_deref(),
        body.description.as_deref(),
        &service::api_tokens::TokenLimits::parse(
            body.expires_in_days,
            body.allowed_ranges.as_deref(),
        )?,
    )
    .await?;
    Ok(NoStore(Json(permanent(issued))))
}

#[utoipa::path(
    post, path = "/v1/users/refresh-permanent-api-token", tag = "Security",
    operation_id = "refreshPermanentApiToken",
    request_body(content = UserPrivatePermanentTokenRefreshRequest, content_type = "*/*"),
    responses(
        (status = 200, description = "The new permanent token; the old one ends now or after the grace period", body = OAuthToken,
            headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`")),
            links(
                ("rotate" = (operation_id = "refreshPermanentApiToken",
                    request_body = "$response.body",
                    description = "Rotates it again")),
                ("revoke" = (operation_id = "revokeToken",
                    request_body = "token={$response.body#/access_token}",
                    description = "Revokes it, with the pairs minted from it")),
            )),
        (status = 404, description = "No permanent token to rotate (issue one first), no such organization or user", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn refresh_permanent_api_token(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<UserPrivatePermanentTokenRefreshRequest>,
) -> Result<NoStore<Json<OAuthToken>>, ApiError> {
    let issued = service::tokens::rotate_permanent(
        &app,
        &grant,
        body.organization_id.as_deref(),
        body.user_id.as_deref(),
        body.grace_period_seconds.unwrap_or(0),
    )
    .await?;
    Ok(NoStore(Json(permanent(issued))))
}

fn permanent(issued: service::tokens::IssuedPermanent) -> OAuthToken {
    OAuthToken {
        access_token: issued.secret.expose().to_string(),
        token_type: "bearer".into(),
        expires_in: issued.expires_in,
        refresh_token: None,
        scope: token_scope(true).into(),
        organization_id: issued.organization_id,
    }
}

#[utoipa::path(
    get, path = "/v1/users/generate-tokens", tag = "Security", operation_id = "getTemporaryApiTokens",
    params(
        ("organizations" = Option<Vec<String>>, Query, description = "The organization the pair \
            acts in by default (at most one); by default the token's. A token bound to its \
            organization gets pairs for it alone."),
    ),
    responses(
        (status = 200, description = "A short-lived access token and a refresh token", body = TokensResponse,
            headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`")),
            links(
                ("revokeRefreshToken" = (operation_id = "revokeToken",
                    request_body = "token={$response.body#/refreshToken}",
                    description = "Revokes the refresh token and its family: the token that asked \
                        for the pair ends too, since the pair joined its family")),
                ("revokeAccessToken" = (operation_id = "revokeToken",
                    request_body = "token={$response.body#/accessToken}",
                    description = "Revokes the access token alone")),
            )),
        (status = 400, description = "More than one organization named, or a bad query", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn get_temporary_api_tokens(
    State(app): State<AppState>,
    grant: Grant,
) -> Result<NoStore<Json<TokensResponse>>, ApiError> {
    let pair = service::tokens::issue_temporary(&app, &grant).await?;
    Ok(NoStore(Json(TokensResponse {
        access_token: pair.access.expose().to_string(),
        token_type: "bearer".into(),
        expires_in: pair.access_expires_in,
        refresh_token: pair.refresh.expose().to_string(),
        refresh_expires_in: pair.refresh_expires_in,
        organization_id: pair.organization_id,
    })))
}

#[utoipa::path(
    post, path = "/v1/users/flexcheck", tag = "Security", operation_id = "createFlexcheckUserLogin",
    request_body(content = UserCreateRequest, content_type = "*/*"),
    responses((status = 200, description = "The new user, first administrator of a new organization", body = Paged<User>, links(
            ("read" = (operation_id = "getUserByUsername", parameters(
                ("email" = "$response.body#/results/0/email"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
            ("update" = (operation_id = "updateUserInfos", parameters(
                ("email" = "$response.body#/results/0/email"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
            ("updateEmail" = (operation_id = "updateEmail", parameters(
                ("email" = "$response.body#/results/0/email"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
            ("updatePassword" = (operation_id = "updateUserPassword", parameters(
                ("email" = "$response.body#/results/0/email"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 429, description = "Too many anonymous sign-ups from this address", body = ErrorBody)),
    security(("bearerAuth" = []), ())
)]
pub async fn create_flexcheck_user_login(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<UserCreateRequest>,
) -> Result<Json<Paged<User>>, ApiError> {
    let answer = service::users::sign_up(&app, &grant, origin::address(), body.into()).await?;
    Ok(Json(Paged::one(user(answer))))
}

fn user(answer: service::users::Answer) -> User {
    User::new(answer.user, answer.roles)
}

#[utoipa::path(
    post, path = "/v1/users", tag = "Security", operation_id = "createUserLogin",
    request_body(content = UserCreateRequest, content_type = "*/*"),
    responses((status = 200, description = "The new user", body = Paged<User>, links(
            ("read" = (operation_id = "getUserByUsername", parameters(
                ("email" = "$response.body#/results/0/email"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
            ("update" = (operation_id = "updateUserInfos", parameters(
                ("email" = "$response.body#/results/0/email"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
            ("updateEmail" = (operation_id = "updateEmail", parameters(
                ("email" = "$response.body#/results/0/email"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
            ("updatePassword" = (operation_id = "updateUserPassword", parameters(
                ("email" = "$response.body#/results/0/email"),
                ("organizations" = "$response.body#/results/0/organizationID"),
            ))),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn create_user_login(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<UserCreateRequest>,
) -> Result<Json<Paged<User>>, ApiError> {
    let answer = service::users::create(&app, &grant, body.into()).await?;
    Ok(Json(Paged::one(user(answer))))
}

#[utoipa::path(
    post, path = "/v1/users/invite", tag = "Security", operation_id = "inviteUserLogin",
    request_body(content = UserInviteRequest, content_type = "*/*"),
    responses((status = 200, description = "The invitation in the shape of a user: its own ID, the inviting \
        organization, the e-mail and names as given, `enabled: false`, its roles, its end as \
        `passwordResetValidTill`; `inviteCode` only with `sendEmail: false`", body = Paged<User>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
        (status = 409, description = "Already a member of the organization", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn invite_user_login(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<UserInviteRequest>,
) -> Result<Response, ApiError> {
    let invitation = service::invitations::invite(&app, &grant, body.into()).await?;
    let shows_code = invitation.code.is_some();
    let answer = Json(Paged::one(User::from(invitation)));
    // The code is shown once, with `sendEmail: false` only.
    Ok(if shows_code {
        NoStore(answer).into_response()
    } else {
        answer.into_response()
    })
}

#[utoipa::path(
    post, path = "/v1/users/invite/accept", tag = "Invitations", operation_id = "acceptInvitation",
    summary = "Accept an invitation made for the caller",
    description = "How a user who exists already joins the organization that invited him: he \
        accepts with his own token. Answers him with his roles in that organization. Any wrong, \
        used, expired or someone else's code is one 400; failed code uses are limited per client \
        address (429).",
    request_body(content = InviteAcceptRequest, content_type = "*/*"),
    params(OrganizationsParam),
    responses((status = 200, description = "The caller, a member of the inviting organization", body = Paged<User>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, description = "Too many failed code uses from this address", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn accept_invitation(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<InviteAcceptRequest>,
) -> Result<Json<Paged<User>>, ApiError> {
    let answer =
        service::invitations::accept(&app, &grant, origin::address(), body.invite_code.as_ref())
            .await?;
    Ok(Json(Paged::one(user(answer))))
}

#[utoipa::path(
    post, path = "/v1/users/invite/openid", tag = "Security", operation_id = "linkOpenIdTokenToUser",
    request_body(content = OpenIdUserLinkRequest, content_type = "*/*"),
    responses((status = 200, description = "The linked user", body = Paged<User>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "The identity is linked to a user already", body = ErrorBody),
        (status = 429, description = "Too many failed code uses from this address", body = ErrorBody)),
    security(("bearerAuth" = []), ())
)]
pub async fn link_open_id_token_to_user(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<OpenIdUserLinkRequest>,
) -> Result<Json<Paged<User>>, ApiError> {
    let answer = service::openid::link(
        &app,
        &grant,
        origin::address(),
        body.invite_code.as_ref(),
        body.id_token.as_ref(),
    )
    .await?;
    Ok(Json(Paged::one(user(answer))))
}

#[utoipa::path(
    get, path = "/v1/users", tag = "Security", operation_id = "getSimpleAllUsers",
    params(UserListParams),
    responses((status = 200, description = "Members of the acting organizations", body = Paged<User>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_simple_all_users(
    State(app): State<AppState>,
    grant: Grant,
    query: QueryParams,
) -> Result<Json<Paged<User>>, ApiError> {
    let paging = query.paging(&["created", "updated", "email"])?;
    let order = match paging.order_by {
        "updated" => MemberOrder::Updated,
        "email" => MemberOrder::Email,
        _ => MemberOrder::Created,
    };
    let (page, more) = service::users::list(
        &app,
        &grant,
        order,
        paging.order == Order::Desc,
        paging.offset,
        paging.records,
    )
    .await?;
    let users = page.into_iter().map(|(u, r)| User::new(u, r)).collect();
    Ok(Json(Paged::page(users, &paging, more)))
}

#[utoipa::path(
    get, path = "/v1/users/username/{email}", tag = "Security", operation_id = "getUserByUsername",
    params(("email" = String, Path, description = "The user's e-mail"), OrganizationsParam),
    responses((status = 200, description = "The user", body = Paged<User>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_user_by_username(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(email): PathParams<String>,
) -> Result<Json<Paged<User>>, ApiError> {
    let answer = service::users::by_email(&app, &grant, &email).await?;
    Ok(Json(Paged::one(user(answer))))
}

#[utoipa::path(
    put, path = "/v1/users/{email}", tag = "Security", operation_id = "updateUserInfos",
    params(("email" = String, Path, description = "The user's e-mail"), OrganizationsParam),
    request_body(content = UpdateUserInfoRequest, content_type = "*/*"),
    responses((status = 200, description = "The user", body = Paged<User>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn update_user_infos(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(email): PathParams<String>,
    JsonBody(body): JsonBody<UpdateUserInfoRequest>,
) -> Result<Json<Paged<User>>, ApiError> {
    let answer = service::users::update_infos(&app, &grant, &email, body.into()).await?;
    Ok(Json(Paged::one(user(answer))))
}

#[utoipa::path(
    put, path = "/v1/users/{email}/email", tag = "Security", operation_id = "updateEmail",
    params(("email" = String, Path, description = "The user's current e-mail"), OrganizationsParam),
    request_body(content = UpdateEmailRequest, content_type = "*/*"),
    responses((status = 200, description = "The user", body = Paged<User>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn update_email(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(email): PathParams<String>,
    JsonBody(body): JsonBody<UpdateEmailRequest>,
) -> Result<Json<Paged<User>>, ApiError> {
    let answer = service::users::update_email(&app, &grant, &email, body.into()).await?;
    Ok(Json(Paged::one(user(answer))))
}

#[utoipa::path(
    put, path = "/v1/users/{email}/password", tag = "Security", operation_id = "updateUserPassword",
    params(("email" = String, Path, description = "The user's e-mail"), OrganizationsParam),
    request_body(content = UpdatePasswordRequest, content_type = "*/*"),
    responses((status = 200, description = "The user", body = Paged<User>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn update_user_password(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(email): PathParams<String>,
    JsonBody(body): JsonBody<UpdatePasswordRequest>,
) -> Result<Json<Paged<User>>, ApiError> {
    let answer = service::users::update_password(&app, &grant, &email, body.into()).await?;
    Ok(Json(Paged::one(user(answer))))
}

#[utoipa::path(
    post, path = "/v1/users/password-reset/request-reset-code", tag = "Security",
    operation_id = "requestPasswordResetCode",
    request_body(content(
        (PasswordResetCodeRequest = "application/json"),
        (String = "text/plain"),
    )),
    responses((status = 200, description = "The same answer whether or not the e-mail exists", body = Paged<String>),
        (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(())
)]
pub async fn request_password_reset_code(
    State(app): State<AppState>,
    req: axum::extract::Request,
) -> Result<Json<Paged<String>>, ApiError> {
    let plain = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/plain")
        });
    let bytes = read_body(req, &app).await?;
    // A text/plain body that is not a JSON object is the bare e-mail address.
    let object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let email = if plain && !object {
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        parse_json::<PasswordResetCodeRequest>(&bytes)?.email
    };
    let email = email.ok_or_else(|| ApiError::missing("email"))?;
    service::reset::request_code(&app, &email, origin::address()).await?;
    Ok(Json(Paged::one(service::reset::REQUESTED.to_string())))
}

#[utoipa::path(
    post, path = "/v1/users/password-reset/password-update", tag = "Security",
    operation_id = "updateUserPasswordWithResetCode",
    request_body(content = PasswordUpdateWithResetCodeRequest, content_type = "application/json"),
    responses((status = 200, description = "The user", body = Paged<User>),
        (status = 400, body = ErrorBody),
        (status = 429, description = "Too many failed code uses from this address", body = ErrorBody)),
    security(())
)]
pub async fn update_user_password_with_reset_code(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<PasswordUpdateWithResetCodeRequest>,
) -> Result<Json<Paged<User>>, ApiError> {
    let user = service::reset::use_code(
        &app,
        origin::address(),
        body.email.as_deref(),
        body.reset_code.as_ref(),
        body.new_password.as_ref(),
    )
    .await?;
    let home = user.organization_id.clone();
    let (user, roles) = service::users::with_roles(&app, user, &[home]).await?;
    Ok(Json(Paged::one(User::new(user, roles))))
}

#[utoipa::path(
    get, path = "/v1/users/{user_id}/login-limits", tag = "Limits", operation_id = "getLoginLimits",
    summary = "See the limits bound to a user's e-mail",
    description = "Failed password logins with his e-mail this hour from clients he never logged \
        in from, and reset codes asked for. Needs `Users:read` and every permission the user \
        holds, in every organization he belongs to.",
    params(("user_id" = String, Path, description = "The user's ID"), OrganizationsParam),
    responses((status = 200, description = "The user's counts", body = Paged<LoginLimits>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Without `Users:read`, or holding less than the user", body = ErrorBody),
        (status = 404, description = "No such user in the acting organizations", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_login_limits(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<Paged<LoginLimits>>, ApiError> {
    let (user, limits) = service::login_limits::of_user(&app, &grant, &user_id).await?;
    Ok(Json(Paged::one(LoginLimits::new(&user, limits))))
}

#[utoipa::path(
    delete, path = "/v1/users/{user_id}/login-limits", tag = "Limits",
    operation_id = "clearLoginLimits",
    summary = "Clear the limits bound to a user's e-mail",
    description = "Forgets this hour's failed password logins with his e-mail and his reset \
        requests, so that any client may try again at once. Needs `Users:update` and every \
        permission the user holds, in every organization he belongs to.",
    params(("user_id" = String, Path, description = "The user's ID"), OrganizationsParam),
    responses((status = 200, description = "The user's counts, cleared", body = Paged<LoginLimits>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Without `Users:update`, or holding less than the user", body = ErrorBody),
        (status = 404, description = "No such user in the acting organizations", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn clear_login_limits(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<Paged<LoginLimits>>, ApiError> {
    let (user, limits) = service::login_limits::clear(&app, &grant, &user_id).await?;
    Ok(Json(Paged::one(LoginLimits::new(&user, limits))))
}
