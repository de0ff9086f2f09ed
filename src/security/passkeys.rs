//! Passkeys (WebAuthn Level 3) as second factors, through `webauthn-rs`: the relying party of
//! the settings, the two ceremonies, and a passkey or a ceremony's state sealed for the store.
//!
//! A ceremony spans two requests that may reach two nodes, so its state is kept in the store,
//! sealed under the secrets key with the ID of the row it is kept in (a state moved onto another
//! ceremony, or a passkey onto another factor, does not open).

use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, CredentialID, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

pub use webauthn_rs::prelude::Passkey;

use crate::config::WebauthnSettings;
use crate::error::ApiError;
use crate::security::sealing::Sealer;

/// The relying party passkeys are made for and checked against.
pub struct Passkeys {
    webauthn: Webauthn,
}

impl Passkeys {
    pub fn new(settings: &WebauthnSettings) -> Result<Self, String> {
        let refused =
            |e: &dyn std::fmt::Display| format!("BF_WEBAUTHN_ORIGIN, BF_WEBAUTHN_RP_ID: {e}");
        let origin = Url::parse(&settings.origin).map_err(|e| refused(&e))?;
        let webauthn = WebauthnBuilder::new(&settings.rp_id, &origin)
            .and_then(|b| b.rp_name("BillForward").build())
            .map_err(|e| refused(&e))?;
        Ok(Self { webauthn })
    }

    /// Starts registering a passkey of a user; `exclude`: the credentials he has already, which
    /// an authenticator holding one of them declines to make again.
    pub fn start_registration(
        &self,
        user_id: &str,
        email: &str,
        exclude: Vec<CredentialID>,
    ) -> Result<(CreationChallengeResponse, PasskeyRegistration), ApiError> {
        self.webauthn
            .start_passkey_registration(user_handle(user_id), email, email, Some(exclude))
            .map_err(|e| ApiError::internal(format!("a passkey registration could not start: {e}")))
    }

    /// The passkey a registration made, if the authenticator's answer is right for it (its
    /// challenge, this origin, this relying party ID, a verified user).
    pub fn finish_registration(
        &self,
        credential: &RegisterPublicKeyCredential,
        state: &PasskeyRegistration,
    ) -> Result<Passkey, String> {
        self.webauthn
            .finish_passkey_registration(credential, state)
            .map_err(|e| e.to_string())
    }

    /// Starts an authentication with any of `passkeys`.
    pub fn start_authentication(
        &self,
        passkeys: &[Passkey],
    ) -> Result<(RequestChallengeResponse, PasskeyAuthentication), ApiError> {
        self.webauthn
            .start_passkey_authentication(passkeys)
            .map_err(|e| {
                ApiError::internal(format!("a passkey authentication could not start: {e}"))
            })
    }

    /// The result of an assertion (a `PublicKeyCredential` as JSON), if it is one and right for
    /// the authentication started: its challenge, this origin and relying party ID, one of the
    /// passkeys it was started with, a verified user, a valid signature.
    pub fn finish_authentication(
        &self,
        assertion: &str,
        state: &PasskeyAuthentication,
    ) -> Result<AuthenticationResult, String> {
        let assertion: PublicKeyCredential =
            serde_json::from_str(assertion).map_err(|e| format!("not an assertion: {e}"))?;
        self.webauthn
            .finish_passkey_authentication(&assertion, state)
            .map_err(|e| e.to_string())
    }
}

/// The user handle passkeys of a user are made with: derived from his ID, so that it names no
/// e-mail and is the same for every passkey of his.
fn user_handle(user_id: &str) -> Uuid {
    let digest = Sha256::digest(format!("bf-security passkey user {user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// Seals a passkey or a ceremony's state, bound to the row it is kept in.
pub fn seal<T: serde::Serialize>(sealer: &Sealer, id: &str, value: &T) -> Result<String, ApiError> {
    let json = serde_json::to_vec(value).map_err(ApiError::internal)?;
    sealer.seal(id, &json)
}

/// Opens what [`seal`] sealed.
pub fn open<T: serde::de::DeserializeOwned>(
    sealer: &Sealer,
    id: &str,
    sealed: &str,
) -> Result<T, ApiError> {
    let json = sealer.open(id, sealed)?;
    serde_json::from_slice(&json).map_err(ApiError::internal)
}
