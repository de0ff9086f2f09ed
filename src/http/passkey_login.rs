//! `/v1/users/mfa/webauthn/authenticate/{start,finish}`: logging in with a passkey alone, where
//! the organization allows it. No token needed; the finish answers as the token endpoint does.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::JsonBody;
use super::oauth::{token_answer, NoStore, OAuthError, Refusal};
use super::views::OAuthToken;
use crate::error::{ApiError, ErrorBody};
use crate::service::AppState;
use crate::service::{passkey_ceremony, passkey_login};

/// A login with a passkey started.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyLoginStart {
    /// Send it back to finish, within `expiresIn` seconds, from any client.
    #[serde(rename = "ceremonyID")]
    pub ceremony_id: String,
    /// The `CredentialRequestOptions` for `navigator.credentials.get()` (WebAuthn Level 3; byte
    /// strings in base64url): `{"publicKey": {"challenge", "rpId", "allowCredentials": [], …}}`.
    /// No credential is named: the authenticator offers the passkeys it keeps for this site.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Seconds the ceremony may be finished in.
    #[schema(example = 360)]
    pub expires_in: i64,
}

/// `POST /v1/users/mfa/webauthn/authenticate/finish`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginFinish {
    /// What the start answered.
    #[serde(default, rename = "ceremonyID")]
    #[schema(value_type = String)]
    pub ceremony_id: Option<String>,
    /// The `PublicKeyCredential` the authenticator answered, as JSON (`toJSON()`; byte strings
    /// in base64url), its `response.userHandle` included.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub credential: Option<serde_json::Value>,
    /// The organization the tokens act in by default, of which the user must be a member and
    /// which must allow a passkey alone; left out, the user's home organization.
    #[serde(default, rename = "organizationID")]
    pub organization_id: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/users/mfa/webauthn/authenticate/start", tag = "Second factors",
    operation_id = "startPasskeyLogin",
    summary = "Start logging in with a passkey alone",
    description = "Starts a login with no password: the options name no user and no \
        credential, so the authenticator offers the passkeys it keeps for this site (those \
        registered with `startPasskeyRegistration` on an authenticator that keeps them), \
        after verifying its user with a PIN or biometrics. The ceremony is good for one \
        finish, within a few minutes; starting one records nothing, so the answer is the same \
        for everybody.\n\n\
        **Needs** nothing: no token.\n\n\
        **Errors**\n\
        - `400`: a body that is not an object.",
    request_body(content = Object, content_type = "application/json", example = json!({})),
    responses((status = 200, description = "The ceremony's ID and the request options", body = PasskeyLoginStart),
        (status = 400, body = ErrorBody)),
    security(())
)]
pub async fn start_passkey_login(
    State(app): State<AppState>,
    JsonBody(_): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<NoStore<Json<PasskeyLoginStart>>, ApiError> {
    let started = passkey_ceremony::start(&app)?;
    Ok(NoStore(Json(PasskeyLoginStart {
        ceremony_id: started.ceremony_id,
        options: started.options,
        expires_in: started.expires_in,
    })))
}

#[utoipa::path(
    post, path = "/v1/users/mfa/webauthn/authenticate/finish", tag = "Second factors",
    operation_id = "finishPasskeyLogin",
    summary = "Finish logging in with a passkey alone: get a token pair",
    description = "Checks the authenticator's assertion against the ceremony started (its \
        challenge, the service's origin and relying party ID, a verified user, the signature \
        of a passkey registered as a second factor) and answers a token pair as \
        `/v1/oauth/token` does. The organization (`organizationID`, else the user's home \
        one) must allow a passkey alone (`passkeyLogin` in its policy); the login counts as \
        one that passed a second factor. The ceremony is spent by this call, whatever its \
        outcome.\n\n\
        **Needs** nothing: no token.\n\n\
        **Errors** (RFC 6749 §5.2 bodies, `{\"error\", \"error_description\"}`, as the token \
        endpoint's)\n\
        - `400` `invalid_request`: `ceremonyID` or `credential` missing, or a body that is not \
        a JSON object of them.\n\
        - `400` `invalid_grant`: a ceremony unknown, expired or spent, or an assertion refused \
        (another origin or relying party, another challenge, an unknown passkey, a user who \
        may not log in), all one answer; an organization the user is not a member of, or one \
        that does not allow a passkey alone.\n\
        - `429` (the error body): too many failed logins from this client address.",
    request_body(content = PasskeyLoginFinish, content_type = "application/json",
        example = json!({"ceremonyID": "q3W…", "credential": {"id": "b64url…", "rawId": "b64url…",
            "type": "public-key", "response": {"authenticatorData": "b64url…",
                "clientDataJSON": "b64url…", "signature": "b64url…", "userHandle": "b64url…"},
            "extensions": {}}})),
    responses((status = 200, description = "A new token pair", body = OAuthToken, headers(
            ("Cache-Control" = String, description = "`no-store`"),
            ("Pragma" = String, description = "`no-cache`"),
        )),
        (status = 400, description = "RFC 6749 §5.2: `invalid_request` or `invalid_grant`", body = OAuthError),
        (status = 429, description = "Too many failed logins from this client address; see \
            Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")))),
    security(())
)]
pub async fn finish_passkey_login(
    State(app): State<AppState>,
    body: Result<JsonBody<PasskeyLoginFinish>, ApiError>,
) -> Result<Response, Refusal> {
    let JsonBody(body) = body?;
    let pair = passkey_login::finish(
        &app,
        body.ceremony_id.as_deref(),
        body.credential.as_ref(),
        body.organization_id.as_deref(),
    )
    .await?;
    Ok(token_answer(pair))
}
