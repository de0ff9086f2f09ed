//! The documentation speaks the API's language: every JSON field and parameter name that
//! README.md and docs/*.md mention is one the served OpenAPI document has.
//!
//! What counts as a field name, in code (a backtick span, or a line of a code block: indented
//! by four spaces after a blank line, or fenced):
//! - a span that is a camelCase identifier (`newPassword`, `organizationID`): the API's JSON
//!   fields are spelled so, and the docs' other identifiers are not (settings are `BF_*`, file
//!   keys and columns snake_case, Rust paths hold `::`, routes start with `/`);
//! - a span that is an error parameter's path (`permissions[1].resource`, `roles[0]`): each
//!   of its names;
//! - a JSON key, `"name":`, anywhere in code;
//! - a query or form parameter: `name=` at the start of a span, after `?` or `&` in a route
//!   (`/v1/roles?include_retired=true`), or after `-d` in a command (`-d grant_type=password`),
//!   its name starting with a lowercase letter (`BF_LISTEN=…` is a setting).
//!
//! Each must be a property of some schema or the name of some parameter in `/v1/openapi.json`,
//! unless [`NOT_THE_APIS`] names it with the reason.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::{StoreKind, TestApp};

/// Names in code the docs mention that are not the API's, each with why.
const NOT_THE_APIS: &[(&str, &str)] = &[
    (
        "application_name",
        "a PostgreSQL connection parameter (docs/OPERATIONS.md, Stores)",
    ),
    (
        "tls",
        "an option of the SMTP URL, `BF_SMTP_URL` (docs/OPERATIONS.md)",
    ),
    (
        "requestBody",
        "a field of an OpenAPI link, the document's own vocabulary (docs/DECISIONS.md, Links)",
    ),
    (
        "oneOf",
        "a keyword of OpenAPI schemas, the document's own vocabulary (docs/DECISIONS.md)",
    ),
    (
        "refreshUrl",
        "a field of an OpenAPI OAuth2 flow, the document's own vocabulary (docs/DECISIONS.md)",
    ),
    (
        "tokenUrl",
        "a field of an OpenAPI OAuth2 flow, the document's own vocabulary (docs/DECISIONS.md)",
    ),
];

/// The documents a newcomer reads: README.md and every Markdown file of docs/.
fn documents(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = vec![root.join("README.md")];
    let mut docs: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    found.extend(docs);
    found
}

/// Every property name of every schema and every parameter name of the document.
fn names_in(doc: &Value, names: &mut BTreeSet<String>) {
    match doc {
        Value::Object(fields) => {
            for (key, value) in fields {
                match (key.as_str(), value) {
                    ("properties", Value::Object(properties)) => {
                        names.extend(properties.keys().cloned())
                    }
                    // Swagger UI shows the security schemes by name (Authorize).
                    ("securitySchemes", Value::Object(schemes)) => {
                        names.extend(schemes.keys().cloned())
                    }
                    ("parameters", Value::Array(parameters)) => names.extend(
                        parameters
                            .iter()
                            .filter_map(|p| p["name"].as_str().map(str::to_string)),
                    ),
                    ("parameters", Value::Object(parameters)) => names.extend(
                        parameters
                            .values()
                            .filter_map(|p| p["name"].as_str().map(str::to_string)),
                    ),
                    _ => {}
                }
                names_in(value, names);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| names_in(item, names)),
        _ => {}
    }
}

/// The code of a Markdown text: its backtick spans (a span may go on over a line break, which
/// reads as a space), and the lines of its code blocks.
fn code_of(text: &str) -> (Vec<String>, Vec<&str>) {
    let mut prose = String::new();
    let mut blocks = Vec::new();
    let mut fenced = false;
    let mut indented = false;
    let mut previous_blank = true;
    for line in text.lines() {
        let blank = line.trim().is_empty();
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            blocks.push(line);
        } else if line.starts_with("    ") && (indented || previous_blank) {
            indented = true;
            blocks.push(line);
        } else {
            indented = indented && blank;
            // A blank line ends a paragraph, and with it any span left open.
            prose.push_str(if blank { "\n\n" } else { line.trim() });
            prose.push(' ');
        }
        previous_blank = blank;
    }
    let spans = prose
        .split("\n\n")
        .flat_map(|paragraph| paragraph.split('`').skip(1).step_by(2))
        .map(|span| span.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    (spans, blocks)
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_camel_case(span: &str) -> bool {
    span.starts_with(|c: char| c.is_ascii_lowercase())
        && span.contains(|c: char| c.is_ascii_uppercase())
        && span.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The names of an error parameter's path (`permissions[1].resource`), when the span is one.
fn path_names(span: &str) -> Option<Vec<&str>> {
    if !span.contains('[') {
        return None;
    }
    let mut names = Vec::new();
    for part in span.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, index)) => (name, Some(index.strip_suffix(']')?)),
            None => (part, None),
        };
        let numbered = index.is_none_or(|i| !i.is_empty() && i.chars().all(|c| c.is_ascii_digit()));
        if !is_identifier(name) || !numbered {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

/// The keys of the JSON objects in a piece of code: each `"name":`.
fn json_keys(code: &str) -> Vec<&str> {
    let mut keys = Vec::new();
    let mut rest = code;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let name = &after[..end];
        let tail = &after[end + 1..];
        if is_identifier(name) && tail.trim_start().starts_with(':') {
            keys.push(name);
        }
        rest = tail;
    }
    keys
}

/// The name before the first `=` of `text`, when it is one in the API's style: it starts with
/// a lowercase letter (`BF_LISTEN=…` is a setting, `LimitNOFILE=` systemd's).
fn name_before_equals(text: &str) -> Option<&str> {
    let (name, _) = text.split_once('=')?;
    (is_identifier(name) && name.starts_with(|c: char| c.is_ascii_lowercase())).then_some(name)
}

/// The query parameters of the routes in a piece of code: `name=` after `?` or `&` in a word
/// that holds a route (`/v1/...`, or one that starts with `/`).
fn query_parameters(code: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for word in code.split_whitespace() {
        let word = word.trim_matches(|c| c == '\'' || c == '"');
        if !(word.starts_with('/') || word.contains("/v1/")) {
            continue;
        }
        if let Some((_, query)) = word.split_once('?') {
            names.extend(query.split('&').filter_map(name_before_equals));
        }
    }
    names
}

/// Form fields of commands: `-d name=…` or `-d 'name=…'`.
fn form_fields(line: &str) -> Vec<&str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "-d")
        .filter_map(|w| name_before_equals(w[1].trim_start_matches(['\'', '"'])))
        .collect()
}

/// The field names `text` mentions, by the rules of this module's header.
fn field_names(text: &str) -> BTreeSet<String> {
    let (spans, blocks) = code_of(text);
    let mut names = BTreeSet::new();
    for span in &spans {
        if is_camel_case(span) {
            names.insert(span.as_str());
        }
        if let Some(path) = path_names(span) {
            names.extend(path);
        }
        names.extend(json_keys(span));
        names.extend(name_before_equals(span));
        names.extend(query_parameters(span));
    }
    for line in &blocks {
        names.extend(json_keys(line));
        names.extend(query_parameters(line));
        names.extend(form_fields(line));
    }
    names.into_iter().map(str::to_string).collect()
}

#[test]
fn the_rules_find_field_names_and_nothing_else() {
    let text = "Use `newPassword` and `BF_MAIL_DIR`, `mail.smtp_url`, `service::change`, \
                `/v1/users/{email}`, `text`, `400 on permissions[1].resource`, \
                `permissions[1].resource` and `roles[0]`, `{\"inviteCode\": …}`, \
                `include_retired=true`, `DELETE /v1/users/mine/sessions?except=current`, \
                `BF_MAIL_DELIVERY=outbox`, `LimitNOFILE=`, \
                `smtp://host:port?tls=required`, a span over a line break (`POST\n  \
                /v1/users?order_by=created`, `firstName`).\n\
                \n    curl -X POST localhost:8080/v1/oauth/token?x=1 \\\n      \
                -d grant_type=password -d 'password=…'\n    # {\"access_token\":\"bfsa_…\"}\n\
                - a list\n    - nested, not code: \"ignored\": `organizationID`\n";
    let found: Vec<String> = field_names(text).into_iter().collect();
    assert_eq!(
        found,
        [
            "access_token",
            "except",
            "firstName",
            "grant_type",
            "include_retired",
            "inviteCode",
            "newPassword",
            "order_by",
            "organizationID",
            "password",
            "permissions",
            "resource",
            "roles",
            "x",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_name_the_docs_mention_is_in_the_openapi_document() {
    let app = TestApp::spawn(StoreKind::Sqlite).await.expect("sqlite app");
    let doc: Value = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut known = BTreeSet::new();
    names_in(&doc, &mut known);
    assert!(
        known.contains("newPassword") && known.contains("order_by"),
        "the document's names were collected: {known:?}"
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut unknown = Vec::new();
    let mut allowed_and_seen = BTreeSet::new();
    let documents = documents(root);
    assert!(documents.len() > 3, "{documents:?}");
    for path in &documents {
        let text = std::fs::read_to_string(path).unwrap();
        let document = path.strip_prefix(root).unwrap().display();
        for name in field_names(&text) {
            if known.contains(&name) {
                continue;
            }
            if NOT_THE_APIS.iter().any(|(n, _)| *n == name) {
                allowed_and_seen.insert(name);
                continue;
            }
            unknown.push(format!("{document}: `{name}`"));
        }
    }
    assert!(
        unknown.is_empty(),
        "names the docs give fields or parameters that /v1/openapi.json does not have \
         (spell them as the API does, or add them to NOT_THE_APIS with the reason):\n{}",
        unknown.join("\n")
    );
    for (name, _) in NOT_THE_APIS {
        assert!(
            allowed_and_seen.contains(*name),
            "`{name}` is no longer mentioned in the docs, or is now the API's: take it out of \
             NOT_THE_APIS"
        );
    }
}
