//! Opaque identifiers: a prefix naming the entity and a UUIDv7, so IDs sort by creation time.

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7())
}

pub const ORGANIZATION: &str = "ORG";
pub const USER: &str = "USR";
pub const ROLE: &str = "ROL";
pub const PERMISSION: &str = "PRM";
pub const TOKEN: &str = "TOK";
/// A session: the family of a login's tokens.
pub const SESSION: &str = "SES";
pub const CODE: &str = "COD";
pub const MAIL: &str = "MAL";
pub const AUDIT: &str = "AUD";
