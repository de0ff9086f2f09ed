//! The OpenAPI document, generated from the handlers' annotations (the query parameters they
//! declare are in `query_docs.rs`).

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::Header;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{Content, Object, Ref, RefOr, Response, Type};
use utoipa::{Modify, OpenApi};

use super::{api_tokens, audit, invitations, mfa, oauth, ops, permissions, roles, sessions, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "BillForward Security API", description = "Logins, organizations, roles and API tokens."),
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
        mfa::remove_my_second_factor,
        mfa::regenerate_recovery_codes,
        mfa::reset_user_second_factors,
        mfa::get_mfa_policy,
        mfa::set_mfa_policy,
        ops::healthz,
        ops::readyz,
    ),
    modifiers(&SeedConventions, &CommonAnswers),
)]
pub struct ApiDoc;

/// What generated clients rely on beyond the annotations: the bearer scheme, and the body
/// parameter named `body` (without the extension, OpenAPI Generator names it after the schema).
struct SeedConventions;

impl Modify for SeedConventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
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

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = || Content::new(Some(Ref::from_schema_name("ErrorBody")));
        let header = |kind: Type, description: &str| {
            let mut h = Header::new(Object::with_type(kind));
            h.description = Some(description.to_string());
            h
        };
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
}

/// The document as served. utoipa 5 spells the fields of a link object in snake case
/// (`operation_id`, `request_body`); OpenAPI spells them in camel case.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    if let Some(paths) = doc["paths"].as_object_mut() {
        let operations = paths
            .values_mut()
            .filter_map(|item| item.as_object_mut())
            .flat_map(|item| item.values_mut());
        let responses = operations
            .filter_map(|op| op.get_mut("responses")?.as_object_mut())
            .flat_map(|responses| responses.values_mut());
        let links = responses
            .filter_map(|answer| answer.get_mut("links")?.as_object_mut())
            .flat_map(|links| links.values_mut())
            .filter_map(|link| link.as_object_mut());
        for link in links {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_string(), value);
                }
            }
        }
    }
    doc
}
