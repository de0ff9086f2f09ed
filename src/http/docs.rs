//! The OpenAPI document, generated from the handlers' annotations (the query parameters they
//! declare are in `query_docs.rs`).

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::SchemaType;
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement,
    SecurityScheme,
};
use utoipa::openapi::server::Server;
use utoipa::openapi::{Content, Object, Ref, RefOr, Response, Schema, Type};
use utoipa::{Modify, OpenApi};

use super::{
    api_tokens, audit, introspection, invitations, mfa, oauth, ops, organizations, passkey_login,
    permissions, roles, sessions, users,
};

/// The document's opening page: how to log in and how every operation behaves.
const INTRODUCTION: &str = "Logins, organizations, roles and API tokens of the BillForward \
    billing platform.\n\n\
    **Logging in here.** Press *Authorize* and fill in `oauth2Password` with an e-mail and a \
    password (leave the client fields empty): the page logs in at `POST /v1/oauth/token` and \
    sends the access token with every call. An access token or a permanent API token in hand \
    goes into `bearerAuth` instead. Either works wherever an operation shows a lock.\n\n\
    **Permissions.** Each operation says what it needs: no token, any valid token, or a \
    permission (`resource:action`, e.g. `Users:create`) in every organization it acts in. \
    Requests act in the organization the token was issued for, or in those named by \
    `organizations=` (repeat it); acting on another user also needs every permission he holds, \
    wherever he is a member.\n\n\
    **Answers.** Every success is the paged envelope (`results` holds the entity, also when \
    there is one), but for the token operations; every failure is the error body \
    (`errorType`, `errorMessage`, `errorParameters`), but for the OAuth endpoints, which \
    answer RFC 6749's. Request bodies are JSON whatever the `Content-Type` says.\n\n\
    **Clients.** The Python client `billforward` is generated from this document with \
    OpenAPI Generator and the normalizer rule `SET_TAGS_FOR_ALL_OPERATIONS=Security`, which \
    puts every operation in one class, `SecurityApi` (see `scripts/generate-python-client.sh`).";

#[derive(OpenApi)]
#[openapi(
    info(title = "BillForward Security API"),
    tags(
        (name = "OAuth", description = "Logging in and out: the token endpoint (RFC 6749) with \
            the password, refresh token and OpenID Connect ID token grants, and revocation \
            (RFC 7009)."),
        (name = "Users", description = "Logins: the caller himself and his organizations, \
            users of the acting organizations, sign-up, profiles, e-mail and password changes, \
            and the limits that hold back password guessing against a user's e-mail."),
        (name = "Invitations", description = "Inviting an e-mail into an organization, and the \
            invitations themselves: listed, resent and revoked by the organization; seen, \
            accepted and declined by the invitee, also with an OpenID Connect ID token."),
        (name = "Roles", description = "Roles of an organization and their permissions \
            (`resource:action`), and the catalogue of what a permission may name."),
        (name = "Tokens", description = "API tokens: a permanent token per user and \
            organization (issued, rotated, listed, revoked; its secret is shown once), and \
            short-lived pairs minted from the caller's token."),
        (name = "Organizations", description = "Organizations (tenants): listed (a platform \
            administrator sees every one, anybody else his own), read and renamed."),
        (name = "Second factors", description = "A user's second factors (TOTP authenticator \
            apps, passkeys) and recovery codes, enrolled, confirmed and removed by himself or \
            removed all at once by an administrator; logging in with a passkey alone; and the \
            policy by which an organization requires a second factor of its members, or lets \
            a passkey alone log them in."),
        (name = "Sessions", description = "Logins as sessions: each password or OpenID login, \
            and each run of pairs minted from a permanent token, with its tokens; seen and \
            ended by their user, or by those who may change him."),
        (name = "Password reset", description = "Setting a password with a code mailed to the \
            user: for anybody, with no token. Answers reveal nothing about which e-mails \
            exist."),
        (name = "Audit", description = "The audit trail of the acting organizations: who did \
            what, to whom, from where, and what was refused."),
        (name = "Operations", description = "For the operator: liveness and readiness (outside \
            `/v1`)."),
    ),
    paths(
        users::create_flexcheck_user_login,
        roles::create_role,
        users::create_user_login,
        roles::get_all_roles,
        users::get_current_user,
        users::get_my_organizations,
        permissions::get_permission_catalogue,
        users::get_private_permanent_api_token,
        roles::get_role_by_id,
        users::get_simple_all_users,
        users::get_temporary_api_tokens,
        users::get_user_by_username,
        users::invite_user_login,
        users::accept_invitation,
        users::link_open_id_token_to_user,
        users::refresh_permanent_api_token,
        roles::remove_permission_from_role,
        users::request_password_reset_code,
        roles::revoke_role,
        users::update_email,
        roles::update_role,
        users::update_user_infos,
        users::update_user_password,
        users::update_user_password_with_reset_code,
        users::get_login_limits,
        users::clear_login_limits,
        sessions::get_my_sessions,
        sessions::end_my_sessions,
        sessions::end_my_session,
        sessions::get_user_sessions,
        sessions::end_user_sessions,
        sessions::end_user_session,
        api_tokens::get_my_api_tokens,
        api_tokens::revoke_my_api_token,
        api_tokens::get_user_api_tokens,
        api_tokens::revoke_user_api_token,
        oauth::token,
        oauth::revoke,
        introspection::introspect,
        organizations::get_organizations,
        organizations::get_organization_by_id,
        organizations::update_organization,
        audit::get_audit_events,
        invitations::get_invitations,
        invitations::resend_invitation,
        invitations::revoke_invitation,
        invitations::get_my_invitations,
        invitations::accept_my_invitation,
        invitations::decline_my_invitation,
        mfa::get_my_second_factors,
        mfa::enrol_totp,
        mfa::confirm_totp,
        mfa::start_passkey_registration,
        mfa::finish_passkey_registration,
        passkey_login::start_passkey_login,
        passkey_login::finish_passkey_login,
        mfa::remove_my_second_factor,
        mfa::regenerate_recovery_codes,
        mfa::reset_user_second_factors,
        mfa::get_mfa_policy,
        mfa::set_mfa_policy,
        ops::healthz,
        ops::readyz,
    ),
    modifiers(&SeedConventions, &PasswordLogin, &CommonAnswers, &NoNullsOnTheWire, &Introduction),
)]
pub struct ApiDoc;

/// The bearer scheme, as the seed's clients know it.
const BEARER: &str = "bearerAuth";
/// The same tokens, got by logging in with the OAuth2 password flow.
const PASSWORD_LOGIN: &str = "oauth2Password";
/// Where both of the password flow's URLs point: relative to the document's origin, as OpenAPI
/// resolves them against the server (`/v1`) and Swagger UI fetches them.
const TOKEN_URL: &str = "/v1/oauth/token";

/// What generated clients rely on beyond the annotations: the bearer scheme, and the body
/// parameter named `body` (without the extension, OpenAPI Generator names it after the schema).
struct SeedConventions;

impl Modify for SeedConventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An access token (`bfsa_…`) from `POST /v1/oauth/token` or \
                 `GET /v1/users/generate-tokens`, or a permanent API token (`bfsp_…`), sent as \
                 `Authorization: Bearer …`. A refresh token (`bfsr_…`) is not a bearer token.",
            ))
            .build();
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
        // Paths relative to the `/v1` server, as the seed's clients are configured
        // (`host=https://…/v1`); the operational endpoints keep a server of their own.
        openapi.servers = Some(vec![Server::new("/v1")]);
        let paths = std::mem::take(&mut openapi.paths.paths);
        for (path, mut item) in paths {
            let path = match path.strip_prefix("/v1") {
                Some(rest) => rest.to_string(),
                None => {
                    item.servers = Some(vec![Server::new("/")]);
                    path
                }
            };
            openapi.paths.paths.insert(path, item);
        }
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                if let Some(body) = &mut op.request_body {
                    // The seed's examples may send no body at all.
                    body.required = Some(utoipa::openapi::Required::False);
                    let ext = ExtensionsBuilder::new()
                        .add("x-codegen-request-body-name", "body")
                        .build();
                    match &mut op.extensions {
                        Some(existing) => existing.merge(ext),
                        None => op.extensions = Some(ext),
                    }
                }
            }
        }
    }
}

/// Logging in from the document: the token endpoint as an OAuth2 password flow, so that a
/// client such as Swagger UI asks for an e-mail and a password and sends the access token it
/// gets. It is the same token as the bearer scheme's, so every operation that takes one takes
/// either scheme (alternatives; a public operation keeps its empty requirement last).
struct PasswordLogin;

impl Modify for PasswordLogin {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let flow = Password::with_refresh_url(TOKEN_URL, Scopes::new(), TOKEN_URL);
        let scheme = OAuth2::with_description(
            [Flow::Password(flow)],
            "Logs in at `POST /v1/oauth/token` with the `password` grant: an e-mail as the \
             username and the password. No client is registered: leave the client ID and secret \
             empty (any sent are ignored). No scope is needed: a token grants what its user's \
             roles allow. The refresh token is used at the same URL with the `refresh_token` \
             grant.",
        );
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(PASSWORD_LOGIN, SecurityScheme::OAuth2(scheme));
        let bearer = SecurityRequirement::new(BEARER, Vec::<String>::new());
        let login = SecurityRequirement::new(PASSWORD_LOGIN, Vec::<String>::new());
        for op in operations(openapi) {
            let Some(security) = &mut op.security else {
                continue;
            };
            if let Some(at) = security.iter().position(|r| *r == bearer) {
                if !security.contains(&login) {
                    security.insert(at + 1, login.clone());
                }
            }
        }
    }
}

/// Every operation of the document.
fn operations(openapi: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// The answers every operation behind the authorization middleware can give, whatever it does,
/// so that each operation lists all it can answer: a bad query (every parameter is checked),
/// a bad token (even on a public operation, rather than ignoring it), an organization the
/// caller may not act in or that does not exist, a body over the limit, the database gone.
struct CommonAnswers;

const ANSWERS: [(&str, &str); 9] = [
    (
        "400",
        "Bad input: a malformed or missing field, query or path parameter (`errorParameters` \
         names it)",
    ),
    (
        "401",
        "No bearer token where one is needed (`WWW-Authenticate: Bearer`), or one that is \
         invalid, expired or revoked (`WWW-Authenticate: Bearer error=\"invalid_token\"`, also \
         on operations that need none)",
    ),
    (
        "403",
        "The caller lacks the permission, or names an organization he may not act in: one he \
         is not a member of (whether or not it exists), another than its own for a token \
         bound to an organization",
    ),
    (
        "404",
        "No such entity among what the caller may see; for a platform administrator, also an \
         organization that does not exist",
    ),
    ("409", "A uniqueness or state conflict"),
    ("408", "The request body stopped coming before it was whole"),
    ("413", "The body is over 64 KiB"),
    ("429", "Too many attempts; see Retry-After"),
    (
        "503",
        "The database is unavailable or too slow, or the node is at its connection limit; \
         try again after Retry-After",
    ),
];

/// What each of those answers looks like, as a client reads it.
fn error_example(status: &str) -> Option<serde_json::Value> {
    let (error_type, message, parameters): (&str, &str, &[&str]) = match status {
        "400" => (
            "ValidationError",
            "records must be between 1 and 500",
            &["records"],
        ),
        "401" => ("Unauthorized", "a bearer token is required", &[]),
        "403" => (
            "PermissionsError",
            "this needs the permission Users:read",
            &[],
        ),
        "404" => ("NotFound", "no user ann@example.com", &[]),
        "408" => (
            "RequestTimeout",
            "the request was not received in time",
            &[],
        ),
        "409" => ("Conflict", "a user with that e-mail exists already", &[]),
        "413" => (
            "PayloadTooLarge",
            "request body is larger than the limit of 64 KiB",
            &[],
        ),
        "429" => ("RateLimited", "too many attempts; try again later", &[]),
        "503" => ("ServiceUnavailable", "the database is unavailable", &[]),
        _ => return None,
    };
    Some(serde_json::json!({
        "errorType": error_type,
        "errorMessage": message,
        "errorParameters": parameters,
    }))
}

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = || Content::new(Some(Ref::from_schema_name("ErrorBody")));
        let header = |kind: Type, description: &str| {
            let mut h = Header::new(Object::with_type(kind));
            h.description = Some(description.to_string());
            h
        };
        for op in operations(openapi) {
            // The operations behind the middleware are those that declare their security.
            if op.security.is_none() {
                continue;
            }
            let mut wanted = vec!["400", "401", "403", "404", "503"];
            if op.request_body.is_some() {
                wanted.extend(["408", "413"]);
            }
            for status in wanted {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| Response::new("").into());
            }
            for (status, answer) in op.responses.responses.iter_mut() {
                let RefOr::T(answer) = answer else { continue };
                let generic = ANSWERS.iter().find(|(s, _)| s == status);
                if let (Some((_, text)), true) = (generic, answer.description.is_empty()) {
                    answer.description = text.to_string();
                }
                if generic.is_some() && answer.content.is_empty() {
                    answer.content.insert("application/json".into(), error());
                }
                // The error body's own example would say `ValidationError` for every status.
                for content in answer.content.values_mut() {
                    let is_error = matches!(&content.schema,
                        Some(RefOr::Ref(r)) if r.ref_location.ends_with("/ErrorBody"));
                    if is_error && content.example.is_none() {
                        content.example = error_example(status);
                    }
                }
                match status.as_str() {
                    "401" => {
                        answer.headers.insert(
                            "WWW-Authenticate".into(),
                            header(
                                Type::String,
                                "`Bearer`, or `Bearer error=\"invalid_token\"`",
                            ),
                        );
                    }
                    "429" | "503" => {
                        answer.headers.insert(
                            "Retry-After".into(),
                            header(Type::Integer, "Seconds after which to try again"),
                        );
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Nothing sent in a URL or a form can be JSON's `null`: a parameter or form field is given or
/// absent. utoipa spells an optional field as OpenAPI 3.1's `type: [T, "null"]` (or a `oneOf`
/// with `null`), which Swagger UI shows in its parameter and form rows as `Tnull`, and draws an
/// example from (`null` sent as the text `null`). So parameters are declared with their plain
/// type, and a form body gets its own copy of its schema with plain types; the same schema
/// as JSON (the OAuth endpoints take both) keeps its nullable types, since a JSON `null` is
/// taken there as absent. Answers keep theirs too: Swagger UI's schema views show `T | null`.
struct NoNullsOnTheWire;

impl Modify for NoNullsOnTheWire {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.clone().unwrap_or_default();
        for op in operations(openapi) {
            for parameter in op.parameters.iter_mut().flatten() {
                if let Some(schema) = &mut parameter.schema {
                    not_null(schema);
                }
            }
            let bodies = op
                .request_body
                .iter_mut()
                .flat_map(|b| b.content.iter_mut());
            for (media_type, content) in bodies {
                if media_type != "application/x-www-form-urlencoded" {
                    continue;
                }
                let form = match &content.schema {
                    Some(RefOr::Ref(r)) => {
                        let name = r.ref_location.rsplit('/').next().unwrap_or_default();
                        components.schemas.get(name).cloned()
                    }
                    other => other.clone(),
                };
                if let Some(RefOr::T(Schema::Object(mut form))) = form {
                    form.properties.values_mut().for_each(not_null);
                    content.schema = Some(RefOr::T(Schema::Object(form)));
                }
            }
        }
    }
}

/// The schema without its `null` alternative.
fn not_null(schema: &mut RefOr<Schema>) {
    let RefOr::T(inner) = schema else { return };
    match inner {
        Schema::Object(object) => {
            if let SchemaType::Array(types) = &object.schema_type {
                let kept: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                object.schema_type = match kept.as_slice() {
                    [one] => SchemaType::Type(one.clone()),
                    _ => SchemaType::Array(kept),
                };
            }
        }
        Schema::OneOf(one_of) => {
            let is_null = |s: &RefOr<Schema>| {
                matches!(s, RefOr::T(Schema::Object(o))
                    if o.schema_type == SchemaType::Type(Type::Null))
            };
            let mut kept: Vec<RefOr<Schema>> = one_of
                .items
                .iter()
                .filter(|s| !is_null(s))
                .cloned()
                .collect();
            if kept.len() == 1 && kept.len() < one_of.items.len() {
                *schema = kept.remove(0);
            }
        }
        _ => {}
    }
}

/// The opening page of the document.
struct Introduction;

impl Modify for Introduction {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info.description = Some(INTRODUCTION.to_string());
    }
}

/// The document as served, its maps in the order the code declares them (a form's fields,
/// an entity's properties, the paths). utoipa 5 spells the fields of a link object in snake
/// case (`operation_id`, `request_body`); OpenAPI spells them in camel case, so they move to
/// the link's map of further fields, which keeps names as given.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for op in operations(&mut doc) {
        let answers = op.responses.responses.values_mut();
        let links = answers
            .filter_map(|answer| match answer {
                RefOr::T(answer) => Some(answer.links.values_mut()),
                RefOr::Ref(_) => None,
            })
            .flatten();
        for link in links {
            let RefOr::T(link) = link else { continue };
            let mut fields = Vec::new();
            if !link.operation_id.is_empty() {
                fields.push(("operationId", std::mem::take(&mut link.operation_id).into()));
            }
            if !link.operation_ref.is_empty() {
                fields.push((
                    "operationRef",
                    std::mem::take(&mut link.operation_ref).into(),
                ));
            }
            if let Some(body) = link.request_body.take() {
                fields.push(("requestBody", body));
            }
            let extensions = link.extensions.get_or_insert_with(Default::default);
            for (name, value) in fields {
                extensions.insert(name.to_string(), value);
            }
        }
    }
    doc
}
