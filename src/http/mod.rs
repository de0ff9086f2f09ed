//! Where requests enter: the router, its middleware, and one module per resource.

pub mod api_tokens;
pub mod audit;
pub mod context;
pub mod docs;
pub mod envelope;
pub mod extract;
pub mod forwarded;
pub mod headers;
pub mod inputs;
pub mod introspection;
pub mod invitations;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod ops;
pub mod organizations;
pub mod params;
pub mod passkey_login;
pub mod permissions;
pub mod query_docs;
pub mod requests;
pub mod roles;
pub mod sessions;
pub mod users;
pub mod views;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::origin::{self, Origin};
use crate::service::authz::Rule;
use crate::service::AppState;

pub const BODY_LIMIT: usize = 64 * 1024;
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(app: AppState) -> Router {
    // Every operation with the rule it needs: the one place to read who may do what.
    macro_rules! op {
        ($method:ident, $rule:expr, $handler:expr) => {
            axum::routing::$method($handler).route_layer(middleware::from_fn_with_state(
                (app.clone(), $rule),
                extract::authorize,
            ))
        };
    }
    use Rule::{Authenticated, Permission, PermissionOrSelf, Public};
    let v1 = Router::new()
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        // RFC 7662 wants the endpoint protected: the caller's own token and the permission.
        .route(
            "/oauth/introspect",
            op!(
                post,
                Permission("Tokens", "introspect"),
                introspection::introspect
            ),
        )
        // Listing: every organization to a platform administrator, his own to anybody else.
        // Reading and renaming: `Organizations:read` and `Organizations:update` in the
        // organization the path names, checked there (a foreign one is a 404).
        .route(
            "/organizations",
            op!(get, Authenticated, organizations::get_organizations),
        )
        .route(
            "/organizations/{organization_id}",
            op!(get, Authenticated, organizations::get_organization_by_id).merge(op!(
                put,
                Authenticated,
                organizations::update_organization
            )),
        )
        .route(
            "/users",
            op!(
                get,
                Permission("Users", "read"),
                users::get_simple_all_users
            )
            .merge(op!(
                post,
                Permission("Users", "create"),
                users::create_user_login
            )),
        )
        .route(
            "/users/mine",
            op!(get, Authenticated, users::get_current_user),
        )
        .route(
            "/users/mine/invitations",
            op!(get, Authenticated, invitations::get_my_invitations),
        )
        // Only invitations made for the caller: any other is a 404.
        .route(
            "/users/mine/invitations/{id}/accept",
            op!(post, Authenticated, invitations::accept_my_invitation),
        )
        .route(
            "/users/mine/invitations/{id}/decline",
            op!(post, Authenticated, invitations::decline_my_invitation),
        )
        // One's own second factors: any valid token, even one limited to enrolling a factor.
        .route(
            "/users/mine/mfa",
            op!(get, Authenticated, mfa::get_my_second_factors),
        )
        .route(
            "/users/mine/mfa/totp",
            op!(post, Authenticated, mfa::enrol_totp),
        )
        .route(
            "/users/mine/mfa/totp/{id}/confirm",
            op!(post, Authenticated, mfa::confirm_totp),
        )
        .route(
            "/users/mine/mfa/webauthn/register/start",
            op!(post, Authenticated, mfa::start_passkey_registration),
        )
        .route(
            "/users/mine/mfa/webauthn/register/finish",
            op!(post, Authenticated, mfa::finish_passkey_registration),
        )
        // A login with a passkey alone: no token, as the token endpoint.
        .route(
            "/users/mfa/webauthn/authenticate/start",
            op!(post, Public, passkey_login::start_passkey_login),
        )
        .route(
            "/users/mfa/webauthn/authenticate/finish",
            op!(post, Public, passkey_login::finish_passkey_login),
        )
        .route(
            "/users/mine/mfa/recovery-codes",
            op!(post, Authenticated, mfa::regenerate_recovery_codes),
        )
        .route(
            "/users/mine/mfa/{id}",
            op!(delete, Authenticated, mfa::remove_my_second_factor),
        )
        // Another user's: the permission, and all he holds (`authz::act_on`).
        .route(
            "/users/{user_id}/mfa",
            op!(
                delete,
                Permission("Users", "update"),
                mfa::reset_user_second_factors
            ),
        )
        // Members see it; `Organizations:update` there changes it (decided by the operation,
        // for the organization of the path).
        .route(
            "/organizations/{organization_id}/mfa-policy",
            op!(get, Authenticated, mfa::get_mfa_policy).merge(op!(
                put,
                Authenticated,
                mfa::set_mfa_policy
            )),
        )
        .route(
            "/invitations",
            op!(
                get,
                Permission("Invitations", "read"),
                invitations::get_invitations
            ),
        )
        .route(
            "/invitations/{id}",
            op!(
                delete,
                Permission("Invitations", "delete"),
                invitations::revoke_invitation
            ),
        )
        // Resending changes the invitation (a new code, a new life): `update`.
        .route(
            "/invitations/{id}/resend",
            op!(
                post,
                Permission("Invitations", "update"),
                invitations::resend_invitation
            ),
        )
        .route(
            "/permissions/catalogue",
            op!(get, Authenticated, permissions::get_permission_catalogue),
        )
        .route(
            "/users/mine/organizations",
            op!(get, Authenticated, users::get_my_organizations),
        )
        // One's own sessions and API tokens: any valid token (a bound one reaches those of
        // its organization only).
        .route(
            "/users/mine/sessions",
            op!(get, Authenticated, sessions::get_my_sessions).merge(op!(
                delete,
                Authenticated,
                sessions::end_my_sessions
            )),
        )
        .route(
            "/users/mine/sessions/{session_id}",
            op!(delete, Authenticated, sessions::end_my_session),
        )
        .route(
            "/users/mine/api-tokens",
            op!(get, Authenticated, api_tokens::get_my_api_tokens),
        )
        .route(
            "/users/mine/api-tokens/{token_id}",
            op!(delete, Authenticated, api_tokens::revoke_my_api_token),
        )
        // Another user's: the permission, and all he holds (`authz::act_on`).
        .route(
            "/users/{email}/sessions",
            op!(
                get,
                Permission("Users", "update"),
                sessions::get_user_sessions
            )
            .merge(op!(
                delete,
                Permission("Users", "update"),
                sessions::end_user_sessions
            )),
        )
        .route(
            "/users/{email}/sessions/{session_id}",
            op!(
                delete,
                Permission("Users", "update"),
                sessions::end_user_session
            ),
        )
        .route(
            "/users/{email}/api-tokens",
            op!(
                get,
                Permission("Tokens", "read"),
                api_tokens::get_user_api_tokens
            ),
        )
        .route(
            "/users/{email}/api-tokens/{token_id}",
            op!(
                delete,
                Permission("Tokens", "delete"),
                api_tokens::revoke_user_api_token
            ),
        )
        .route(
            "/users/generate-permanent-api-token",
            op!(post, Authenticated, users::get_private_permanent_api_token),
        )
        .route(
            "/users/refresh-permanent-api-token",
            op!(post, Authenticated, users::refresh_permanent_api_token),
        )
        .route(
            "/users/generate-tokens",
            op!(get, Authenticated, users::get_temporary_api_tokens),
        )
        // Open sign-up is decided by the operation: anonymous only when configured.
        .route(
            "/users/flexcheck",
            op!(post, Public, users::create_flexcheck_user_login),
        )
        .route(
            "/users/invite",
            op!(
                post,
                Permission("Users", "create"),
                users::invite_user_login
            ),
        )
        // The caller accepts an invitation made for him: the code alone is not enough.
        .route(
            "/users/invite/accept",
            op!(post, Authenticated, users::accept_invitation),
        )
        // The invite code with an ID token proving the e-mail, or the caller's token.
        .route(
            "/users/invite/openid",
            op!(post, Public, users::link_open_id_token_to_user),
        )
        .route(
            "/users/username/{email}",
            op!(
                get,
                PermissionOrSelf("Users", "read"),
                users::get_user_by_username
            ),
        )
        // Self for names and timezone; `Users:update` for `enabled` and `roles`.
        .route(
            "/users/{email}",
            op!(
                put,
                PermissionOrSelf("Users", "update"),
                users::update_user_infos
            ),
        )
        .route(
            "/users/{email}/email",
            op!(
                put,
                PermissionOrSelf("Users", "update"),
                users::update_email
            ),
        )
        .route(
            "/users/{email}/password",
            op!(
                put,
                PermissionOrSelf("Users", "update"),
                users::update_user_password
            ),
        )
        .route(
            "/users/{user_id}/login-limits",
            op!(get, Permission("Users", "read"), users::get_login_limits).merge(op!(
                delete,
                Permission("Users", "update"),
                users::clear_login_limits
            )),
        )
        .route(
            "/users/password-reset/request-reset-code",
            op!(post, Public, users::request_password_reset_code),
        )
        .route(
            "/users/password-reset/password-update",
            op!(post, Public, users::update_user_password_with_reset_code),
        )
        .route(
            "/roles",
            op!(get, Permission("Roles", "read"), roles::get_all_roles)
                .merge(op!(post, Permission("Roles", "create"), roles::create_role))
                .merge(op!(put, Permission("Roles", "update"), roles::update_role)),
        )
        .route(
            "/roles/{role}",
            op!(get, Permission("Roles", "read"), roles::get_role_by_id).merge(op!(
                delete,
                Permission("Roles", "delete"),
                roles::revoke_role
            )),
        )
        .route(
            "/audit-events",
            op!(
                get,
                Permission("AuditEvents", "read"),
                audit::get_audit_events
            ),
        )
        .route(
            "/roles/{role}/permission/{resource}/{action}",
            op!(
                delete,
                Permission("Roles", "update"),
                roles::remove_permission_from_role
            ),
        );

    let cors = headers::cors(&app.settings.http.cors_origins);
    let router = Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(SwaggerUi::new("/docs").url("/v1/openapi.json", docs::document()))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(app.clone(), bound))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .layer(middleware::from_fn_with_state(app.clone(), originate))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    // The matched route, never the raw URI: paths carry e-mail addresses.
                    let route = metrics::route_label(req.extensions().get::<MatchedPath>());
                    let request_id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), route, request_id)
                })
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestId))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("a handler panicked").into_response()
            },
        ))
        .layer(middleware::from_fn(headers::harden))
        .with_state(app);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Times the request, records it in the metrics, and gives the handler its context.
async fn observe(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = metrics::route_label(req.extensions().get::<MatchedPath>());
    let method = metrics::method_label(req.method());
    let ctx = context::RequestContext {
        started,
        uri: req.uri().clone(),
    };
    let response = context::scope(ctx, next.run(req)).await;
    app.metrics.observe(
        method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Says where the request comes from, for the limits and the audit trail below: the peer, or
/// behind a trusted proxy the client it names.
async fn originate(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let trusted = &app.settings.http.trusted_proxies;
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| forwarded::client_address(peer.ip(), req.headers(), trusted));
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let origin = Origin::new(address, user_agent);
    origin::scope(origin, next.run(req)).await
}

/// Bounds the request: its body must arrive within the read timeout (see
/// [`extract::read_body`]), its answer within the request timeout, else 503 with the error
/// body; what the request was doing is dropped (a transaction rolls back).
async fn bound(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let http = &app.settings.http;
    req.extensions_mut()
        .insert(extract::BodyReadTimeout(Duration::from_millis(
            http.read_timeout_ms,
        )));
    let limit = Duration::from_millis(http.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut.into_response(),
    }
}

/// Request IDs for requests that come without one: random (from the thread's generator, not a
/// system call per request) and shaped as UUIDs.
#[derive(Clone, Copy)]
struct MakeRequestId;

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut buf = uuid::Uuid::encode_buffer();
        let text = id.hyphenated().encode_lower(&mut buf);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}
