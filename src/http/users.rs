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
    get, path = "/v1/users/mine", tag = "Users", operation_id = "getCurrentUser",
    summary = "The caller, with his roles",
    description = "The user behind the token, with his live roles and their permissions in the \
        acting organizations: the token's, or those named in `organizations`.\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `401`: no token, or one that is invalid, expired or revoked.\n\
        - `403`: `organizations` names one he is not a member of, or another than its own for a \
        token bound to its organization.\n\
        - `404`: (platform administrator) `organizations` names one that does not exist.",
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
    get, path = "/v1/users/mine/organizations", tag = "Users", operation_id = "getMyOrganizations",
    summary = "The organizations the caller is a member of",
    description = "Every organization the caller is a member of, his home organization among \
        them; a request acts in the token's unless `organizations` names others.\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `401`: no token, or one that is invalid, expired or revoked.",
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
    post, path = "/v1/users/generate-permanent-api-token", tag = "Tokens",
    operation_id = "getPrivatePermanentApiToken",
    summary = "Issue a permanent API token",
    description = "Issues the caller's permanent API token for an organization (`organizationID`, \
        by default the token's). It acts only there, as its user, until it is rotated or \
        revoked, or `expiresInDays` pass; `allowedRanges` (CIDR) limits the client addresses it \
        may be used from. A user has one live permanent token per organization. The secret is in \
        this answer only (`access_token`, with `Cache-Control: no-store`).\n\n\
        **Needs** any valid token and membership of the organization. For another user \
        (`userID`, a member of it): `Tokens:create` there, and every permission that user holds \
        in every organization he belongs to.\n\n\
        **Errors**\n\
        - `400`: `expiresInDays` outside 1 to 3650, a bad or empty `allowedRanges`.\n\
        - `403`: not a member of the organization, another organization than its own for a \
        bound token; for another user, without `Tokens:create` or holding less than him.\n\
        - `404`: `userID` is not a member of the organization.\n\
        - `409`: a live permanent token exists already: rotate it \
        (`refreshPermanentApiToken`).",
    request_body(content = UserPrivatePermanentTokenRequest, content_type = "*/*",
        example = json!({"description": "Nightly billing export", "expiresInDays": 365})),
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
    post, path = "/v1/users/refresh-permanent-api-token", tag = "Tokens",
    operation_id = "refreshPermanentApiToken",
    summary = "Rotate the permanent API token",
    description = "Issues a new permanent token for the same user and organization, with the \
        old one's description, address ranges and length of life, and ends the old one, with \
        the pairs minted from it, at once or after `gracePeriodSeconds` (0 to 86400). The new \
        secret is in this answer only.\n\n\
        **Needs** what issuing needs: any valid token and membership of the organization; for \
        another user (`userID`), `Tokens:create` there and every permission he holds.\n\n\
        **Errors**\n\
        - `400`: `gracePeriodSeconds` outside 0 to 86400.\n\
        - `403`: as when issuing.\n\
        - `404`: no live permanent token to rotate (issue one first), or `userID` is not a \
        member of the organization.\n\
        - `409`: it was rotated at the same time; try again.",
    request_body(content = UserPrivatePermanentTokenRefreshRequest, content_type = "*/*",
        example = json!({"gracePeriodSeconds": 300})),
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
    get, path = "/v1/users/generate-tokens", tag = "Tokens", operation_id = "getTemporaryApiTokens",
    summary = "Mint a short-lived token pair",
    description = "Issues the caller an access token (an hour by default) and a refresh token \
        (30 days by default) acting in one organization: the one named in `organizations`, \
        else the token's. The pair reaches no further than the token that asked for it and ends \
        with it: it joins a login's family, or, minted from a permanent token, ends when that \
        token is rotated or revoked.\n\n\
        **Needs** any valid token.\n\n\
        **Errors**\n\
        - `400`: more than one organization named.\n\
        - `403`: an organization the caller is not a member of, or another than its own for a \
        bound token.",
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
    post, path = "/v1/users/flexcheck", tag = "Users", operation_id = "createFlexcheckUserLogin",
    summary = "Sign up: a new organization and its first user",
    description = "Creates an organization, named after `companyName` (else the e-mail's domain) \
        with a unique `customerCode`, and an `Administrator` role in it holding `*`:`*`; then \
        the user (`email` and `password` required) as its first member, holding that role.\n\n\
        **Needs** a platform administrator's token, or `Organizations:create` in the token's \
        organization. With no token only when open sign-up is on (`BF_OPEN_SIGNUP`), a few \
        times an hour per client address.\n\n\
        **Errors**\n\
        - `400`: `email` missing or not an e-mail, `password` missing or against the password \
        policy, `timezone` not an IANA name.\n\
        - `401`: no token while open sign-up is off.\n\
        - `403`: without `Organizations:create`.\n\
        - `409`: the e-mail belongs to a user already.\n\
        - `429`: too many sign-ups without a token from this address.",
    request_body(content = UserCreateRequest, content_type = "*/*",
        example = json!({"email": "ann@example.com", "password": "correct horse battery staple",
            "firstName": "Ann", "lastName": "Smith", "companyName": "Example Ltd",
            "timezone": "Europe/London"})),
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
    post, path = "/v1/users", tag = "Users", operation_id = "createUserLogin",
    summary = "Create a user in an organization",
    description = "Creates a user as a member of an organization (`organizationID`, else the \
        first acting one) with the named `roles` (IDs or names there); with none, he gets the \
        organization's default role. Without `password` he cannot log in until he sets one \
        with a code: `sendEmail: true` mails him one, valid 72 hours.\n\n\
        **Needs** `Users:create` in that organization, and every permission of the roles he is \
        given (of the default role when none is named).\n\n\
        **Errors**\n\
        - `400`: `email` missing or not an e-mail, `password` against the password policy, \
        `timezone` not an IANA name, a role that does not exist there.\n\
        - `403`: without `Users:create` there, not a member of it, or a role holding a \
        permission the caller lacks.\n\
        - `404`: no such organization.\n\
        - `409`: the e-mail belongs to a user already (logins are global: invite him instead).",
    request_body(content = UserCreateRequest, content_type = "*/*",
        example = json!({"email": "bob@example.com", "firstName": "Bob", "lastName": "Jones",
            "timezone": "Europe/London", "sendEmail": true})),
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
    post, path = "/v1/users/invite", tag = "Invitations", operation_id = "inviteUserLogin",
    summary = "Invite an e-mail into an organization",
    description = "Creates an invitation into an organization (`organizationID`, else the first \
        acting one) with a single-use code, mailed to `email`, or with `sendEmail: false` \
        answered once as `inviteCode`. It lasts `expiresInHours` (72 by default, at most 720) \
        and gives the named `roles` (the default role when none). A new e-mail gets a user at \
        once, a member but not enabled until he accepts by setting his password with the code \
        (`updateUserPasswordWithResetCode`) or with an OpenID Connect ID token \
        (`linkOpenIdTokenToUser`); an existing user accepts while logged in \
        (`acceptInvitation`, `acceptMyInvitation`). A newer invitation into the organization \
        replaces a pending one. The answer is the invitation in the shape of a user.\n\n\
        **Needs** `Users:create` in that organization, and every permission of the roles it \
        gives (of the default role when none is named).\n\n\
        **Errors**\n\
        - `400`: `email` missing or not an e-mail, `expiresInHours` outside 1 to 720, a role \
        that does not exist there.\n\
        - `403`: without `Users:create` there, not a member of it, or a role holding a \
        permission the caller lacks.\n\
        - `404`: no such organization.\n\
        - `409`: the e-mail's user is a member of the organization already.",
    request_body(content = UserInviteRequest, content_type = "*/*",
        example = json!({"email": "carla@example.com", "firstName": "Carla", "lastName": "Diaz",
            "expiresInHours": 72})),
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
    summary = "Accept an invitation made for the caller, by its code",
    description = "How a user who exists already joins the organization that invited him: he \
        sends the invitation's code with his own token, and becomes a member with the \
        invitation's roles. The answer is he, with his roles in that organization.\n\n\
        **Needs** any valid token: the caller's own, the invitation being made for his e-mail.\n\n\
        **Errors**\n\
        - `400`: `inviteCode` missing; a code that is wrong, used, expired or someone else's \
        (one answer for all).\n\
        - `429`: too many failed code uses from this client address.",
    request_body(content = InviteAcceptRequest, content_type = "*/*",
        example = json!({"inviteCode": "K7M2Q9XD4P"})),
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
    post, path = "/v1/users/invite/openid", tag = "Invitations", operation_id = "linkOpenIdTokenToUser",
    summary = "Accept an invitation, or link a login, with an OpenID Connect ID token",
    description = "Verifies `idToken` as an ID token of a configured OpenID Connect provider \
        (signature, issuer, audience, expiry, issue time, a verified e-mail) and links that \
        identity to a user, who may then log in with it (`getToken`, `jwt-bearer` grant). With \
        `inviteCode`: the invited user, whose e-mail the ID token must carry, is linked, \
        enabled and made a member; the invitation is used up. Without it: the caller's own user \
        is linked, his e-mail matching the ID token's.\n\n\
        **Needs** the invitation's code, or a valid token.\n\n\
        **Errors**\n\
        - `400`: `idToken` missing or failing a check (the code stays usable); neither \
        `inviteCode` nor a token; a code that is wrong, used, expired or not for that e-mail.\n\
        - `409`: the identity is linked to a user already.\n\
        - `429`: too many failed attempts from this client address.",
    request_body(content = OpenIdUserLinkRequest, content_type = "*/*",
        example = json!({"inviteCode": "K7M2Q9XD4P",
            "idToken": "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUuY29tIn0.c2lnbmF0dXJl"})),
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
    get, path = "/v1/users", tag = "Users", operation_id = "getSimpleAllUsers",
    summary = "List the users of the acting organizations",
    description = "The members of the acting organizations, each with his roles there, a page \
        at a time (`offset`, `records`), ordered by `order_by` (`created`, `updated`, `email`) \
        and `order`; `nextPage` links the next page.\n\n\
        **Needs** `Users:read` in every acting organization.\n\n\
        **Errors**\n\
        - `400`: `offset` below 0, `records` outside 1 to 500, an unknown `order_by` or \
        `order`.\n\
        - `403`: without `Users:read` in an acting organization, or not a member of it.",
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
    get, path = "/v1/users/username/{email}", tag = "Users", operation_id = "getUserByUsername",
    summary = "Find a user by e-mail",
    description = "The user whose login is `email` (compared case-insensitively), with his roles \
        in the acting organizations.\n\n\
        **Needs** `Users:read` in every acting organization, or none to read oneself.\n\n\
        **Errors**\n\
        - `400`: `email` is not an e-mail.\n\
        - `404`: no such user among the members of the acting organizations (whether or not he \
        exists elsewhere); without `Users:read`, anyone but oneself.",
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
    put, path = "/v1/users/{email}", tag = "Users", operation_id = "updateUserInfos",
    summary = "Change a user's profile, standing or roles",
    description = "Changes only the fields present: names, company and `timezone` (an IANA \
        name); `enabled` (disabling ends all his sessions and permanent tokens at once); \
        `roles`, which replace his roles in the first acting organization (`[]` takes them \
        all away).\n\n\
        **Needs** for oneself, names and time zone only, no permission. For another user, \
        `Users:update` in every acting organization and every permission he holds in every \
        organization he belongs to (only a platform administrator changes a platform \
        administrator); for `roles`, every permission of the roles given.\n\n\
        **Errors**\n\
        - `400`: `timezone` not an IANA name, a role that does not exist there.\n\
        - `403`: another user without `Users:update` or holding less than him; one's own \
        `enabled` or `roles`; a role holding a permission the caller lacks.\n\
        - `404`: no such user among the acting organizations' members, or (with `roles`) not \
        a member of the first one.",
    params(("email" = String, Path, description = "The user's e-mail"), OrganizationsParam),
    request_body(content = UpdateUserInfoRequest, content_type = "*/*",
        example = json!({"firstName": "Ann", "lastName": "Smith", "companyName": "Example Ltd",
            "timezone": "Europe/Paris"})),
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
    put, path = "/v1/users/{email}/email", tag = "Users", operation_id = "updateEmail",
    summary = "Change a user's login e-mail",
    description = "Sets `newEmail` as the user's login and mails a notice to the old address. \
        His other sessions end (all of them when another user makes the change).\n\n\
        **Needs** for oneself, one's current `password` and no permission. For another user, \
        `Users:update` in every acting organization and every permission he holds in every \
        organization he belongs to.\n\n\
        **Errors**\n\
        - `400`: `newEmail` missing or not an e-mail; for oneself, `password` missing or \
        wrong.\n\
        - `403`: another user without `Users:update`, or holding less than him.\n\
        - `404`: no such user among the acting organizations' members.\n\
        - `409`: `newEmail` belongs to a user already.",
    params(("email" = String, Path, description = "The user's current e-mail"), OrganizationsParam),
    request_body(content = UpdateEmailRequest, content_type = "*/*",
        example = json!({"newEmail": "ann.smith@example.com", "password": "correct horse battery staple"})),
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
    put, path = "/v1/users/{email}/password", tag = "Users", operation_id = "updateUserPassword",
    summary = "Change a user's password",
    description = "Sets `newPassword` under the password policy (at least 10 characters, not \
        the e-mail, by default). His sessions end, their access and refresh tokens, but for \
        the one making the call when he changes his own.\n\n\
        **Needs** for oneself, the right `currentPassword` and no permission. For another user, \
        `Users:update` in every acting organization and every permission he holds in every \
        organization he belongs to.\n\n\
        **Errors**\n\
        - `400`: `newPassword` missing or against the policy; for oneself, `currentPassword` \
        missing or wrong.\n\
        - `403`: another user without `Users:update`, or holding less than him.\n\
        - `404`: no such user among the acting organizations' members.",
    params(("email" = String, Path, description = "The user's e-mail"), OrganizationsParam),
    request_body(content = UpdatePasswordRequest, content_type = "*/*",
        example = json!({"currentPassword": "correct horse battery staple",
            "newPassword": "a longer passphrase of my own"})),
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
    post, path = "/v1/users/password-reset/request-reset-code", tag = "Password reset",
    operation_id = "requestPasswordResetCode",
    summary = "Mail a password reset code",
    description = "Mails a single-use reset code to `email` if it belongs to an enabled user, \
        valid 15 minutes by default; a newer code replaces an older one. The body is \
        `{\"email\": …}`, or the bare address as `text/plain`. The answer is the same, after \
        the same work, whether or not the e-mail belongs to anyone.\n\n\
        **Needs** nothing: no token.\n\n\
        **Errors**\n\
        - `400`: `email` missing or not an e-mail.\n\
        - `429`: too many requests from this client address, or for this e-mail from a client \
        its user never logged in from.",
    request_body(content(
        (PasswordResetCodeRequest = "application/json", example = json!({"email": "ann@example.com"})),
        (String = "text/plain", example = json!("ann@example.com")),
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
    post, path = "/v1/users/password-reset/password-update", tag = "Password reset",
    operation_id = "updateUserPasswordWithResetCode",
    summary = "Set a password with a reset code",
    description = "Sets `newPassword` (under the password policy) for the user of `email` if \
        `resetCode` is his, right, unexpired and unused; the code is then used up, and his \
        sessions end. An invitation's code works here too for the user that invitation created: \
        it accepts the invitation and enables him. A reset code dies after 5 wrong tries.\n\n\
        **Needs** nothing: no token.\n\n\
        **Errors**\n\
        - `400`: `email`, `resetCode` or `newPassword` missing, `newPassword` against the \
        policy; a code that is wrong, used or expired (one answer for all).\n\
        - `429`: too many failed code uses from this client address.",
    request_body(content = PasswordUpdateWithResetCodeRequest, content_type = "application/json",
        example = json!({"email": "ann@example.com", "resetCode": "K7M2Q9XD4P",
            "newPassword": "correct horse battery staple"})),
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
    get, path = "/v1/users/{user_id}/login-limits", tag = "Users", operation_id = "getLoginLimits",
    summary = "See the limits bound to a user's e-mail",
    description = "Failed password logins with his e-mail this hour from clients he never logged \
        in from (which are refused past the allowance, until `refusedUntil`), and reset codes \
        asked for.\n\n\
        **Needs** `Users:read` in every acting organization, and every permission the user \
        holds, in every organization he belongs to.\n\n\
        **Errors**\n\
        - `403`: without `Users:read`, or holding less than the user.\n\
        - `404`: no such user in the acting organizations.",
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
    delete, path = "/v1/users/{user_id}/login-limits", tag = "Users",
    operation_id = "clearLoginLimits",
    summary = "Clear the limits bound to a user's e-mail",
    description = "Forgets this hour's failed password logins with his e-mail and his reset \
        requests, so that any client may try again at once.\n\n\
        **Needs** `Users:update` in every acting organization, and every permission the user \
        holds, in every organization he belongs to.\n\n\
        **Errors**\n\
        - `403`: without `Users:update`, or holding less than the user.\n\
        - `404`: no such user in the acting organizations.",
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
