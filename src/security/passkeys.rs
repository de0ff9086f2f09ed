//! Passkeys (WebAuthn Level 3), through `webauthn-rs`: the relying party of the settings, the
//! ceremonies (registering a passkey, a login's second step with one, and a login with a passkey
//! alone), and a passkey or a ceremony's state sealed for the store.
//!
//! A ceremony spans two requests that may reach two nodes, so its state is kept in the store,
//! sealed under the secrets key with the ID of the row it is kept in (a state moved onto another
//! ceremony, or a passkey onto another factor, does not open).

use base64::Engine;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, CredentialID, DiscoverableAuthentication,
    DiscoverableKey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
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
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(user_handle(user_id), email, email, Some(exclude))
            .map_err(|e| {
                ApiError::internal(format!("a passkey registration could not start: {e}"))
            })?;
        // A passkey the authenticator keeps (a discoverable credential) can also log its user in
        // alone, where his organization allows it: asked for, not required, since many security
        // keys have little room for them and a passkey serves as a second factor either way.
        // (The crate does not name the requirement's type outside itself: set as JSON.)
        let mut json = serde_json::to_value(&options).map_err(ApiError::internal)?;
        json["publicKey"]["authenticatorSelection"]["residentKey"] = "preferred".into();
        options = serde_json::from_value(json).map_err(ApiError::internal)?;
        Ok((options, state))
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

    /// Starts a login with a passkey alone: no user is named, the authenticator offers the
    /// passkeys it keeps for this relying party (discoverable credentials), and the assertion
    /// says whose it is. The options are for a modal `navigator.credentials.get()`; a page may
    /// add `mediation: "conditional"` to offer them in the e-mail field's autofill instead.
    pub fn start_login(
        &self,
    ) -> Result<(RequestChallengeResponse, DiscoverableAuthentication), ApiError> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| ApiError::internal(format!("a passkey login could not start: {e}")))?;
        options.mediation = None;
        Ok((options, state))
    }

    /// The assertion of a login with a passkey alone, read: the credential, the user handle it
    /// names (an authenticator keeps it with a discoverable credential) and the digest its
    /// credential ID is looked up by.
    pub fn identify(&self, assertion: &serde_json::Value) -> Result<Presented, String> {
        let credential: PublicKeyCredential = serde_json::from_value(assertion.clone())
            .map_err(|e| format!("not an assertion: {e}"))?;
        let (handle, id) = self
            .webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|e| e.to_string())?;
        Ok(Presented {
            user_handle: handle,
            lookup: lookup(id),
            credential,
        })
    }

    /// The result of a login's assertion, if it is right for the login started (its challenge,
    /// this origin and relying party ID, a verified user, a valid signature) and made by
    /// `passkey`.
    pub fn finish_login(
        &self,
        presented: &Presented,
        state: DiscoverableAuthentication,
        passkey: &Passkey,
    ) -> Result<AuthenticationResult, String> {
        self.webauthn
            .finish_discoverable_authentication(
                &presented.credential,
                state,
                &[DiscoverableKey::from(passkey)],
            )
            .map_err(|e| e.to_string())
    }
}

/// An assertion presented to log in with a passkey alone.
pub struct Presented {
    /// The user handle the authenticator answered: only a claim until the signature is checked
    /// with the passkey of the factor found by `lookup`.
    pub user_handle: Uuid,
    pub lookup: String,
    credential: PublicKeyCredential,
}

/// Whether a user handle is the one a user's passkeys are made with.
pub fn is_handle_of(handle: &Uuid, user_id: &str) -> bool {
    *handle == user_handle(user_id)
}

/// The digest a passkey's factor is found by from its credential ID: the store keeps no
/// credential ID in clear, yet an assertion that names no user must find its passkey.
pub fn lookup(credential_id: &[u8]) -> String {
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(credential_id);
    crate::security::secrets::digest(&format!("passkey credential {id}"))
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
