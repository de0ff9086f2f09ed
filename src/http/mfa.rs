//! `/v1/users/mine/mfa…`: the caller's second factors and recovery codes;
//! `/v1/users/{user_id}/mfa`: an administrator removing another user's; and
//! `/v1/organizations/{organization_id}/mfa-policy`: whether an organization requires a second factor.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::envelope::Paged;
use super::extract::{JsonBody, PathParams};
use super::oauth::NoStore;
use super::query_docs::OrganizationsParam;
use crate::clock::rfc3339;
use crate::domain::SecretString;
use crate::error::{ApiError, ErrorBody};
use crate::service::authz::Grant;
use crate::service::mfa::{self, Proof};
use crate::service::AppState;
use crate::store::factors::FactorRow;

/// A second factor, as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecondFactor {
    pub id: String,
    /// `totp` or `webauthn` (a passkey).
    pub kind: String,
    pub name: String,
    /// False while pending: enrolled, not yet confirmed by a first code; a pending factor is
    /// never asked for at a login.
    pub confirmed: bool,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
}

impl From<FactorRow> for SecondFactor {
    fn from(f: FactorRow) -> Self {
        Self {
            id: f.id,
            kind: f.kind,
            name: f.name,
            confirmed: f.confirmed.is_some(),
            created: rfc3339(f.created),
            last_used: f.last_used.map(rfc3339),
        }
    }
}

/// `POST /v1/users/mine/mfa/totp`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolTotpRequest {
    /// A name to tell the factor by; `Authenticator app` by default.
    #[serde(default)]
    pub name: Option<String>,
}

/// A TOTP factor just enrolled, pending until confirmed with a first code. Its secret is shown
/// this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpEnrolment {
    pub factor: SecondFactor,
    /// The shared secret, base32 (RFC 4648), for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/BillForward:{e-mail}?secret=…`: what the QR code holds.
    pub uri: String,
    /// The URI as a QR code, SVG text.
    pub qr_code_svg: String,
}

/// A code of a TOTP factor.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Six digits.
    #[serde(default)]
    #[schema(value_type = String)]
    pub code: Option<String>,
}

/// A confirmed factor; with the first one, the user's recovery codes, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpConfirmation {
    pub factor: SecondFactor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

impl From<mfa::Confirmed> for TotpConfirmation {
    fn from(c: mfa::Confirmed) -> Self {
        Self {
            factor: c.factor.into(),
            recovery_codes: c
                .recovery_codes
                .map(|codes| codes.iter().map(|c| c.expose().to_string()).collect()),
        }
    }
}

/// `POST /v1/users/mine/mfa/webauthn/register/start`: the options to create a passkey with.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRegistrationStart {
    /// Send it back to finish, within a few minutes, with the same login's token.
    #[serde(rename = "ceremonyID")]
    pub ceremony_id: String,
    /// The `CredentialCreationOptions` for `navigator.credentials.create()` (WebAuthn Level 3;
    /// byte strings in base64url): `{"publicKey": {"rp", "user", "challenge", …}}`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// `POST /v1/users/mine/mfa/webauthn/register/finish`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegistrationFinish {
    /// What the start answered.
    #[serde(default, rename = "ceremonyID")]
    #[schema(value_type = String)]
    pub ceremony_id: Option<String>,
    /// The `PublicKeyCredential` the authenticator made, as JSON (`toJSON()`; byte strings in
    /// base64url).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub credential: Option<serde_json::Value>,
    /// A name to tell the factor by; `Passkey` by default.
    #[serde(default)]
    pub name: Option<String>,
}

/// What proves the caller is the user: a current code of a second factor, or the password.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofRequest {
    /// A current code of one of the caller's TOTP factors.
    #[serde(default)]
    pub code: Option<String>,
    /// The caller's password.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    /// With `credential`: a ceremony started with `startPasskeyLogin`, answered by one of the
    /// caller's passkeys.
    #[serde(default, rename = "ceremonyID")]
    pub ceremony_id: Option<String>,
    /// The passkey's assertion for `ceremonyID` (a `PublicKeyCredential` as JSON).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

impl ProofRequest {
    fn proof(&self) -> Proof<'_> {
        Proof {
            code: self.code.as_deref(),
            password: self.password.as_ref(),
            passkey: self.ceremony_id.as_deref().zip(self.credential.as_ref()),
        }
    }
}

/// New recovery codes, shown this once; the old ones no longer work.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// How many second factors an administrator removed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FactorsRemoved {
    #[serde(rename = "userID")]
    pub user_id: String,
    pub removed: u64,
}

/// What an organization asks of its members' logins.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaPolicy {
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    /// Members must pass a second factor to act in the organization.
    pub required: bool,
    /// Members may log in with a passkey alone (`startPasskeyLogin`, `finishPasskeyLogin`),
    /// which counts as a login that passed a second factor: the passkey is something the user
    /// has, unlocked by something he knows or is.
    pub passkey_login: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    #[serde(rename = "changedBy", skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
}

impl From<mfa::Policy> for MfaPolicy {
    fn from(p: mfa::Policy) -> Self {
        Self {
            organization_id: p.organization_id,
            required: p.required,
            passkey_login: p.passkey_login,
            updated: p.updated.map(rfc3339),
            changed_by: p.changed_by,
        }
    }
}

/// `PUT /v1/organizations/{organization_id}/mfa-policy`: at least one of the two; one left out
/// stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MfaPolicyRequest {
    /// Require a second factor of the members.
    #[serde(default)]
    pub required: Option<bool>,
    /// Let members log in with a passkey alone.
    #[serde(default)]
    pub passkey_login: Option<bool>,
}

#[utoipa::path(
    get, path = "/v1/users/mine/mfa", tag = "Second factors", operation_id = "getMySecondFactors",
    summary = "List the caller's second factors",
    description = "The caller's second factors, pending ones included, oldest first; never a \
        secret.\n\n\
        **Needs** a valid token, nothing more; also one limited to enrolling a second factor.\n\n\
        **Errors**\n\
        - `401`: no valid token.",
    responses((status = 200, description = "The factors", body = Paged<SecondFactor>),
        (status = 401, body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_my_second_factors(
    State(app): State<AppState>,
    grant: Grant,
) -> Result<Json<Paged<SecondFactor>>, ApiError> {
    let factors = mfa::list(&app, &grant).await?;
    Ok(Json(Paged::all(
        factors.into_iter().map(SecondFactor::from).collect(),
    )))
}

#[utoipa::path(
    post, path = "/v1/users/mine/mfa/totp", tag = "Second factors", operation_id = "enrolTotp",
    summary = "Enrol a TOTP factor (an authenticator app)",
    description = "Answers the factor, pending, with its secret, `otpauth://` URI and QR code, \
        shown this once; confirm it with a first code. A pending factor left from an earlier \
        enrolment is replaced.\n\n\
        **Needs** a valid token, nothing more; also one limited to enrolling a second factor.\n\n\
        **Errors**\n\
        - `400`: `name` longer than 100 characters, or a body that is not the object.\n\
        - `401`: no valid token.\n\
        - `409`: the user has five confirmed factors already.",
    request_body(content = EnrolTotpRequest, content_type = "application/json", example = json!({"name": "Phone"})),
    responses((status = 200, description = "The pending factor and its secret", body = TotpEnrolment),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "The user has the most factors he may have", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn enrol_totp(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<EnrolTotpRequest>,
) -> Result<NoStore<Json<TotpEnrolment>>, ApiError> {
    let enrolment = mfa::enrol_totp(&app, &grant, body.name.as_deref()).await?;
    Ok(NoStore(Json(TotpEnrolment {
        factor: enrolment.factor.into(),
        secret: enrolment.secret.expose().to_string(),
        uri: enrolment.uri.expose().to_string(),
        qr_code_svg: enrolment.qr_svg,
    })))
}

#[utoipa::path(
    post, path = "/v1/users/mine/mfa/totp/{id}/confirm", tag = "Second factors",
    operation_id = "confirmTotp",
    summary = "Confirm a pending TOTP factor with a first code",
    description = "Confirms a pending factor of the caller with a first current code. The \
        first factor a user confirms comes with ten single-use recovery codes, shown this \
        once. Sessions open already are not changed: the next login asks for the factor. A \
        wrong code counts against the limits of failed password logins.\n\n\
        **Needs** a valid token, nothing more; also one limited to enrolling a second factor.\n\n\
        **Errors**\n\
        - `400`: `code` missing, wrong or used already.\n\
        - `401`: no valid token.\n\
        - `404`: no such factor of the caller.\n\
        - `409`: the factor is confirmed already.\n\
        - `429`: too many failed logins and proofs from this client address, or with the \
        user's e-mail from a client he never logged in from with his password; see Retry-After.",
    params(("id" = String, Path, description = "The factor's ID")),
    request_body(content = CodeRequest, content_type = "application/json", example = json!({"code": "123456"})),
    responses((status = 200, description = "The confirmed factor", body = TotpConfirmation),
        (status = 400, description = "`code` missing, wrong or used already", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such factor of the caller", body = ErrorBody),
        (status = 409, description = "The factor is confirmed already", body = ErrorBody),
        (status = 429, description = "Too many failed logins and proofs", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn confirm_totp(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<CodeRequest>,
) -> Result<NoStore<Json<TotpConfirmation>>, ApiError> {
    let confirmed = mfa::confirm_totp(&app, &grant, &id, body.code.as_deref()).await?;
    Ok(NoStore(Json(confirmed.into())))
}

#[utoipa::path(
    post, path = "/v1/users/mine/mfa/webauthn/register/start", tag = "Second factors",
    operation_id = "startPasskeyRegistration",
    summary = "Start registering a passkey",
    description = "Answers the options to create a passkey with (`navigator.credentials.create()`) \
        for the caller, and the ceremony's ID to finish it with. The ceremony lasts a few \
        minutes, serves once and only the caller. Passkeys the caller has already are excluded.\n\n\
        **Needs** a valid token, nothing more; also one limited to enrolling a second factor.\n\n\
        **Errors**\n\
        - `400`: a body that is not an object.\n\
        - `401`: no valid token.\n\
        - `409`: the user has five confirmed factors already.",
    request_body(content = Object, content_type = "application/json", example = json!({})),
    responses((status = 200, description = "The ceremony's ID and the creation options", body = PasskeyRegistrationStart),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "The user has the most factors he may have", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn start_passkey_registration(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(_): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<NoStore<Json<PasskeyRegistrationStart>>, ApiError> {
    let started = mfa::start_passkey(&app, &grant).await?;
    Ok(NoStore(Json(PasskeyRegistrationStart {
        ceremony_id: started.ceremony_id,
        options: started.options,
    })))
}

#[utoipa::path(
    post, path = "/v1/users/mine/mfa/webauthn/register/finish", tag = "Second factors",
    operation_id = "finishPasskeyRegistration",
    summary = "Finish registering a passkey",
    description = "Checks the credential the authenticator made against the ceremony started \
        (its challenge, the service's origin and relying party ID, a verified user) and keeps \
        the passkey as a confirmed second factor of kind `webauthn`. The ceremony is spent by \
        this call, whatever its outcome. The first factor a user confirms comes with ten \
        single-use recovery codes, shown this once.\n\n\
        **Needs** a valid token of the user who started the ceremony; also one limited to \
        enrolling a second factor.\n\n\
        **Errors**\n\
        - `400`: `ceremonyID` missing, unknown, expired, spent or another user's; \
        `credential` missing or refused (another origin or relying party, another challenge); \
        `name` longer than 100 characters.\n\
        - `401`: no valid token.\n\
        - `409`: the user has five confirmed factors already, or this passkey already.",
    request_body(content = PasskeyRegistrationFinish, content_type = "application/json",
        example = json!({"ceremonyID": "WAR-0190f5c2-7d1e-7c4e-9f0a-3b5c6d7e8f90", "name": "Laptop",
            "credential": {"id": "b64url…", "rawId": "b64url…", "type": "public-key",
                "response": {"attestationObject": "b64url…", "clientDataJSON": "b64url…"},
                "extensions": {}}})),
    responses((status = 200, description = "The confirmed factor", body = TotpConfirmation),
        (status = 400, description = "A ceremony or a credential refused", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "The user has the most factors he may have, or this passkey", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn finish_passkey_registration(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<PasskeyRegistrationFinish>,
) -> Result<NoStore<Json<TotpConfirmation>>, ApiError> {
    let confirmed = mfa::finish_passkey(
        &app,
        &grant,
        body.ceremony_id.as_deref(),
        body.credential.as_ref(),
        body.name.as_deref(),
    )
    .await?;
    Ok(NoStore(Json(confirmed.into())))
}

#[utoipa::path(
    delete, path = "/v1/users/mine/mfa/{id}", tag = "Second factors",
    operation_id = "removeMySecondFactor",
    summary = "Remove one of the caller's second factors",
    description = "Removes a factor, pending or confirmed, with a proof in the body: a \
        current code of a TOTP factor (`code`), an assertion of one of the caller's passkeys \
        (`credential`) for a ceremony started with `startPasskeyLogin` (`ceremonyID`), or the \
        password (`password`). The last confirmed factor \
        takes the recovery codes with it; it cannot be removed while the user is a member of \
        an organization that requires a second factor (enrol another first). A wrong proof \
        counts against the limits of failed password logins, and is audited. The removal of \
        a confirmed factor is mailed to the user.\n\n\
        **Needs** a valid token and the proof in the body.\n\n\
        **Errors**\n\
        - `400`: no proof, or a wrong one.\n\
        - `401`: no valid token.\n\
        - `404`: no such factor of the caller.\n\
        - `409`: the last confirmed factor of a member of an organization requiring one.\n\
        - `429`: too many failed logins and proofs from this client address, or with the \
        user's e-mail from a client he never logged in from with his password; see Retry-After.",
    params(("id" = String, Path, description = "The factor's ID")),
    request_body(content = ProofRequest, content_type = "application/json",
        example = json!({"password": "correct horse battery staple"})),
    responses((status = 200, description = "The factor removed", body = Paged<SecondFactor>),
        (status = 400, description = "No proof, or a wrong one", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such factor of the caller", body = ErrorBody),
        (status = 409, description = "The last confirmed factor of a member of an organization requiring one", body = ErrorBody),
        (status = 429, description = "Too many failed logins and proofs", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn remove_my_second_factor(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ProofRequest>,
) -> Result<Json<Paged<SecondFactor>>, ApiError> {
    let removed = mfa::remove(&app, &grant, &id, body.proof()).await?;
    Ok(Json(Paged::one(removed.into())))
}

#[utoipa::path(
    post, path = "/v1/users/mine/mfa/recovery-codes", tag = "Second factors",
    operation_id = "regenerateRecoveryCodes",
    summary = "Make new recovery codes",
    description = "Ten new single-use recovery codes, shown this once; the old ones stop \
        working. The user is mailed that new ones were made (never the codes). A wrong proof \
        counts against the limits of failed password logins, and is audited.\n\n\
        **Needs** a valid token and, in the body, a proof: a current code of a TOTP factor \
        (`code`), an assertion of one of the caller's passkeys (`credential`) for a ceremony \
        started with `startPasskeyLogin` (`ceremonyID`), or the password (`password`).\n\n\
        **Errors**\n\
        - `400`: no proof, or a wrong one.\n\
        - `401`: no valid token.\n\
        - `409`: the caller has no confirmed factor.\n\
        - `429`: too many failed logins and proofs from this client address, or with the \
        user's e-mail from a client he never logged in from with his password; see Retry-After.",
    request_body(content = ProofRequest, content_type = "application/json",
        example = json!({"password": "correct horse battery staple"})),
    responses((status = 200, description = "The new codes", body = RecoveryCodes),
        (status = 400, description = "No proof, or a wrong one", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "The caller has no confirmed factor", body = ErrorBody),
        (status = 429, description = "Too many failed logins and proofs", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn regenerate_recovery_codes(
    State(app): State<AppState>,
    grant: Grant,
    JsonBody(body): JsonBody<ProofRequest>,
) -> Result<NoStore<Json<RecoveryCodes>>, ApiError> {
    let codes = mfa::regenerate_recovery_codes(&app, &grant, body.proof()).await?;
    Ok(NoStore(Json(RecoveryCodes {
        recovery_codes: codes.iter().map(|c| c.expose().to_string()).collect(),
    })))
}

#[utoipa::path(
    delete, path = "/v1/users/{user_id}/mfa", tag = "Second factors",
    operation_id = "resetUserSecondFactors",
    summary = "Remove all of a user's second factors",
    description = "For a user who lost his second factor and recovery codes: removes them all; \
        he is mailed. Not for oneself: one's own are removed one by one, with a proof.\n\n\
        **Needs** `Users:update` and every permission the user holds, in every organization \
        he belongs to.\n\n\
        **Errors**\n\
        - `401`: no valid token.\n\
        - `403`: without `Users:update`, holding less than the user, or oneself.\n\
        - `404`: no such user in the acting organizations.",
    params(("user_id" = String, Path, description = "The user's ID"), OrganizationsParam),
    responses((status = 200, description = "How many factors were removed", body = FactorsRemoved),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Without `Users:update`, holding less than the user, or oneself", body = ErrorBody),
        (status = 404, description = "No such user in the acting organizations", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn reset_user_second_factors(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<FactorsRemoved>, ApiError> {
    let removed = mfa::reset_user(&app, &grant, &user_id).await?;
    Ok(Json(FactorsRemoved { user_id, removed }))
}

#[utoipa::path(
    get, path = "/v1/organizations/{organization_id}/mfa-policy", tag = "Second factors",
    operation_id = "getMfaPolicy",
    summary = "See whether an organization requires a second factor",
    description = "The organization's policy on second factors, and its last change.\n\n\
        **Needs** a valid token of a member of the organization; where the policy is on, one \
        whose login passed a second factor.\n\n\
        **Errors**\n\
        - `401`: no valid token.\n\
        - `403`: a member whose login passed no second factor, where one is required.\n\
        - `404`: no such organization, or one the caller is not a member of.",
    params(("organization_id" = String, Path, description = "The organization's ID")),
    responses((status = 200, description = "The policy", body = MfaPolicy),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Not an organization of the caller", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn get_mfa_policy(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
) -> Result<Json<MfaPolicy>, ApiError> {
    Ok(Json(mfa::policy(&app, &grant, &id).await?.into()))
}

#[utoipa::path(
    put, path = "/v1/organizations/{organization_id}/mfa-policy", tag = "Second factors",
    operation_id = "setMfaPolicy",
    summary = "Set what an organization asks of its members' logins",
    description = "Changes the policy, at once on every node; a field left out stays as it \
        is.\n\n\
        `required`: while it is on, a \
        token acts in the organization only if its login passed a second factor (a permanent \
        token: if it was made by such a login); any other token, whichever organization its \
        login was in, may there only see its user and enrol a factor (`GET /v1/users/mine`, \
        `/v1/users/mine/mfa…`). A member without a confirmed factor logs in with a token \
        limited so.\n\n\
        `passkeyLogin`: members may log in with a passkey alone \
        (`POST /v1/users/mfa/webauthn/authenticate/start` and `…/finish`), no password; such \
        a login counts as one that passed a second factor. Off by default.\n\n\
        **Needs** `Organizations:update` in that organization (a platform administrator holds \
        it everywhere), and a login that passed a second factor where the policy is on.\n\n\
        **Errors**\n\
        - `400`: neither `required` nor `passkeyLogin`, or one not a boolean.\n\
        - `401`: no valid token.\n\
        - `403`: without `Organizations:update` there, or a login that passed no second factor \
        where one is required.\n\
        - `404`: no such organization, or one the caller is not a member of.",
    params(("organization_id" = String, Path, description = "The organization's ID")),
    request_body(content = MfaPolicyRequest, content_type = "application/json", example = json!({"required": true, "passkeyLogin": true})),
    responses((status = 200, description = "The policy", body = MfaPolicy),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Without `Organizations:update` there", body = ErrorBody),
        (status = 404, description = "Not an organization of the caller", body = ErrorBody)),
    security(("bearerAuth" = []))
)]
pub async fn set_mfa_policy(
    State(app): State<AppState>,
    grant: Grant,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<MfaPolicyRequest>,
) -> Result<Json<MfaPolicy>, ApiError> {
    Ok(Json(
        mfa::set_policy(&app, &grant, &id, body.required, body.passkey_login)
            .await?
            .into(),
    ))
}
