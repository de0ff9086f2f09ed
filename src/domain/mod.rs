//! Domain types that can only be built valid. Parsing happens once, at the edge, and a failure
//! is the contract's 400 naming the field.

pub mod email;
pub mod ids;
pub mod kinds;
pub mod network;
pub mod organization;
pub mod password;
pub mod permission;
pub mod role;
pub mod secret;
pub mod text;
pub mod timezone;
pub mod totp;
pub mod url;

pub use email::Email;
pub use kinds::{CodeKind, InvitationEnd, InvitationState, TokenKind};
pub use organization::OrganizationName;
pub use password::{NewPassword, PasswordPolicy};
pub use permission::{Permission, PermissionSet};
pub use role::RoleName;
pub use secret::SecretString;
pub use text::TextKind;
pub use timezone::Timezone;
