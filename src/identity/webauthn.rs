//! Passkeys (WebAuthn, SPEC 4.2): a thin wrapper around webauthn-rs that speaks the WebAuthn
//! Level 3 JSON wire shapes (`parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON` /
//! `credential.toJSON()`), with everything the caller stores kept as a `String`.
//!
//! * Options are the bare `publicKey` object, binary members base64url, absent members omitted.
//! * Ceremony states are opaque strings (`{"kind", "allow", "state"}`); a state of one kind is
//!   refused by the other ceremonies.
//! * Assertions are verified against the passkeys the caller passes to `finish_*` (fresh from the
//!   database), not against the copy taken when the ceremony started, so the signature counter is
//!   compared with the latest stored value.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// The maintained WebAuthn library, configured for one relying party.
#[derive(Clone, Debug)]
pub struct Passkeys {
    webauthn: Webauthn,
}

#[derive(Debug, thiserror::Error)]
pub enum WebauthnError {
    /// The server's configuration or stored data is unusable (a bug or a misconfiguration).
    #[error("passkey configuration: {0}")]
    Config(String),
    /// The credential (or the ceremony state it is checked against) is malformed or did not verify.
    #[error("passkey credential: {0}")]
    Invalid(String),
}

/// A newly registered passkey.
#[derive(Clone, Debug)]
pub struct Registered {
    /// base64url, no padding.
    pub credential_id: String,
    /// The serialized webauthn-rs `Passkey` (JSON).
    pub passkey: String,
}

/// A verified assertion.
#[derive(Clone, Debug)]
pub struct Verified {
    /// base64url, no padding: which of the passkeys signed.
    pub credential_id: String,
    /// The passkey to store in place of the old one when its counter or backup state changed.
    pub updated_passkey: Option<String>,
}

/// A random user handle (UUID v4, hyphenated lower case), stored once per user.
pub fn new_user_handle() -> String {
    Uuid::new_v4().to_string()
}

const REGISTRATION: &str = "registration";
const AUTHENTICATION: &str = "authentication";
const DISCOVERABLE: &str = "discoverable";

/// What `start_*` hands the caller as the opaque state string.
#[derive(Serialize, Deserialize)]
struct CeremonyState {
    kind: String,
    /// Credential ids (base64url) that may answer an `authentication` ceremony.
    #[serde(default)]
    allow: Vec<String>,
    state: Value,
}

fn invalid(message: impl Into<String>) -> WebauthnError {
    WebauthnError::Invalid(message.into())
}

fn config(message: impl Into<String>) -> WebauthnError {
    WebauthnError::Config(message.into())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url (the wire form) also accepting padding and the standard alphabet.
fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let text = text
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    URL_SAFE_NO_PAD.decode(text).ok()
}

fn parse_passkey(stored: &str) -> Result<Passkey, WebauthnError> {
    serde_json::from_str(stored).map_err(|e| config(format!("stored passkey is unreadable: {e}")))
}

/// Removes every `null` (object members and array items), recursively.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

fn to_value(value: &impl Serialize) -> Result<Value, WebauthnError> {
    serde_json::to_value(value).map_err(|e| config(format!("cannot serialize: {e}")))
}

fn state_string(
    kind: &str,
    allow: Vec<String>,
    state: &impl Serialize,
) -> Result<String, WebauthnError> {
    let state = CeremonyState {
        kind: kind.to_owned(),
        allow,
        state: to_value(state)?,
    };
    serde_json::to_string(&state).map_err(|e| config(format!("cannot serialize state: {e}")))
}

fn read_state(state: &str, kind: &str) -> Result<CeremonyState, WebauthnError> {
    let state: CeremonyState =
        serde_json::from_str(state).map_err(|_| invalid("unreadable ceremony state"))?;
    if state.kind != kind {
        return Err(invalid(format!(
            "the state of a {} ceremony, not {kind}",
            state.kind
        )));
    }
    Ok(state)
}

fn state_part<T: serde::de::DeserializeOwned>(state: &CeremonyState) -> Result<T, WebauthnError> {
    serde_json::from_value(state.state.clone()).map_err(|_| invalid("unreadable ceremony state"))
}

/// A required base64url member of `object`, re-encoded canonically.
fn binary(object: &Map<String, Value>, name: &str) -> Result<String, WebauthnError> {
    let text = object
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{name} is missing")))?;
    decode_b64(text)
        .map(|bytes| b64(&bytes))
        .ok_or_else(|| invalid(format!("{name} is not base64url")))
}

/// Maps a `credential.toJSON()` object onto the shape webauthn-rs deserializes: unknown members
/// dropped, binary members re-encoded as unpadded base64url, `clientExtensionResults` moved to
/// `extensions`, unknown transports dropped, a null/empty `userHandle` omitted.
fn canonical_credential(credential: &Value, registration: bool) -> Result<Value, WebauthnError> {
    let object = credential
        .as_object()
        .ok_or_else(|| invalid("credential is not an object"))?;
    if object.get("type").and_then(Value::as_str) != Some("public-key") {
        return Err(invalid("type must be public-key"));
    }
    let raw_id = match (object.contains_key("rawId"), object.contains_key("id")) {
        (true, _) => binary(object, "rawId")?,
        (false, true) => binary(object, "id")?,
        (false, false) => return Err(invalid("rawId is missing")),
    };
    if object.contains_key("id") && binary(object, "id")? != raw_id {
        return Err(invalid("id and rawId differ"));
    }
    let response = object
        .get("response")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("response is missing"))?;
    let mut canonical = Map::new();
    canonical.insert(
        "clientDataJSON".into(),
        binary(response, "clientDataJSON")?.into(),
    );
    if registration {
        canonical.insert(
            "attestationObject".into(),
            binary(response, "attestationObject")?.into(),
        );
        if let Some(transports) = response.get("transports").and_then(Value::as_array) {
            let known = ["usb", "nfc", "ble", "internal", "hybrid"];
            let transports: Vec<Value> = transports
                .iter()
                .filter(|t| t.as_str().is_some_and(|t| known.contains(&t)))
                .cloned()
                .collect();
            canonical.insert("transports".into(), transports.into());
        }
    } else {
        canonical.insert(
            "authenticatorData".into(),
            binary(response, "authenticatorData")?.into(),
        );
        canonical.insert("signature".into(), binary(response, "signature")?.into());
        match response.get("userHandle") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(_) => {
                canonical.insert("userHandle".into(), binary(response, "userHandle")?.into());
            }
        }
    }
    let extensions = object
        .get("clientExtensionResults")
        .or_else(|| object.get("extensions"))
        .filter(|e| e.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    Ok(json!({
        "id": raw_id,
        "rawId": raw_id,
        "type": "public-key",
        "response": canonical,
        "extensions": extensions,
    }))
}

/// Deserializes the canonical credential; extension outputs whose shape webauthn-rs does not
/// know are dropped rather than failing the credential (this server requests none it relies on).
fn deserialize_credential<T: serde::de::DeserializeOwned>(
    mut canonical: Value,
) -> Result<T, WebauthnError> {
    if let Ok(parsed) = serde_json::from_value(canonical.clone()) {
        return Ok(parsed);
    }
    canonical["extensions"] = json!({});
    serde_json::from_value(canonical).map_err(|e| invalid(format!("malformed credential: {e}")))
}

fn parse_registration(credential: &Value) -> Result<RegisterPublicKeyCredential, WebauthnError> {
    deserialize_credential(canonical_credential(credential, true)?)
}

fn parse_assertion(credential: &Value) -> Result<PublicKeyCredential, WebauthnError> {
    deserialize_credential(canonical_credential(credential, false)?)
}

/// The stored passkey (of `passkeys`) whose credential id is `id`.
fn find_passkey(passkeys: &[String], id: &[u8]) -> Result<Passkey, WebauthnError> {
    for stored in passkeys {
        let passkey = parse_passkey(stored)?;
        if passkey.cred_id().as_slice() == id {
            return Ok(passkey);
        }
    }
    Err(invalid("the credential is not one of the user's passkeys"))
}

impl Passkeys {
    /// `origin` is exactly `CHARTER_PUBLIC_ORIGIN` (scheme, host and port are all checked);
    /// `rp_id` must be its host or a registrable suffix of it (an IP address is refused).
    pub fn new(origin: &str, rp_id: &str, rp_name: &str) -> Result<Self, WebauthnError> {
        let origin =
            Url::parse(origin).map_err(|e| config(format!("public origin {origin:?}: {e}")))?;
        let webauthn = WebauthnBuilder::new(rp_id, &origin)
            .map_err(|_| {
                config(format!(
                    "rp id {rp_id:?} does not fit origin {origin} (IP origins are refused)"
                ))
            })?
            .rp_name(rp_name)
            .build()
            .map_err(|e| config(e.to_string()))?;
        Ok(Passkeys { webauthn })
    }

    /// Creation options for a new passkey of the user `user_handle` (a UUID string; `user.id` is
    /// its 16 bytes), excluding the serialized passkeys in `exclude`. Returns (options, state).
    pub fn start_registration(
        &self,
        user_handle: &str,
        email: &str,
        display_name: &str,
        exclude: &[String],
    ) -> Result<(Value, String), WebauthnError> {
        let handle =
            Uuid::parse_str(user_handle).map_err(|_| config("user handle is not a UUID"))?;
        let exclude = exclude
            .iter()
            .map(|p| parse_passkey(p).map(|p| p.cred_id().clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let display_name = if display_name.trim().is_empty() {
            email
        } else {
            display_name
        };
        let (options, state) = self
            .webauthn
            .start_passkey_registration(handle, email, display_name, Some(exclude))
            .map_err(|e| config(format!("cannot start registration: {e}")))?;
        let mut options = to_value(&options.public_key)?;
        // webauthn-rs asks for residentKey "discouraged"; passkeys here are discoverable. The
        // verification policy (user verification required) is in the state and unchanged.
        options["authenticatorSelection"] = json!({"residentKey": "required", "requireResidentKey": true, "userVerification": "required"});
        options["attestation"] = json!("none");
        if !options["excludeCredentials"].is_array() {
            options["excludeCredentials"] = json!([]);
        }
        strip_nulls(&mut options);
        Ok((options, state_string(REGISTRATION, Vec::new(), &state)?))
    }

    pub fn finish_registration(
        &self,
        state: &str,
        credential: &Value,
    ) -> Result<Registered, WebauthnError> {
        let state: PasskeyRegistration = state_part(&read_state(state, REGISTRATION)?)?;
        let credential = parse_registration(credential)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| invalid(format!("registration did not verify: {e}")))?;
        Ok(Registered {
            credential_id: b64(passkey.cred_id()),
            passkey: serde_json::to_string(&passkey).map_err(|e| config(e.to_string()))?,
        })
    }

    /// Request options for a known user's passkeys (`allowCredentials` filled; at least one).
    pub fn start_authentication(
        &self,
        passkeys: &[String],
    ) -> Result<(Value, String), WebauthnError> {
        let passkeys = passkeys
            .iter()
            .map(|p| parse_passkey(p))
            .collect::<Result<Vec<_>, _>>()?;
        if passkeys.is_empty() {
            return Err(config("no passkeys to authenticate with"));
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| config(format!("cannot start authentication: {e}")))?;
        let allow = passkeys.iter().map(|p| b64(p.cred_id())).collect();
        Ok((
            request_options(&options.public_key)?,
            state_string(AUTHENTICATION, allow, &state)?,
        ))
    }

    /// Request options for a discoverable-credential sign-in (no `allowCredentials`).
    pub fn start_discoverable(&self) -> Result<(Value, String), WebauthnError> {
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| config(format!("cannot start authentication: {e}")))?;
        Ok((
            request_options(&options.public_key)?,
            state_string(DISCOVERABLE, Vec::new(), &state)?,
        ))
    }

    /// The user handle (UUID string) and credential id an assertion claims — not yet verified.
    pub fn identify(&self, credential: &Value) -> Result<(String, String), WebauthnError> {
        let credential = parse_assertion(credential)?;
        let (handle, id) = self
            .webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|_| invalid("userHandle is missing or not a user handle"))?;
        Ok((handle.to_string(), b64(id)))
    }

    /// Verifies an assertion of a `start_authentication` ceremony; `passkeys` are the user's
    /// passkeys as stored now.
    pub fn finish_authentication(
        &self,
        state: &str,
        credential: &Value,
        passkeys: &[String],
    ) -> Result<Verified, WebauthnError> {
        let state = read_state(state, AUTHENTICATION)?;
        // Validates the shape; the verification itself goes through the single-credential path
        // below, which webauthn-rs only exposes for DiscoverableAuthentication. Both state types
        // are `{ast: AuthenticationState}`, so the same value deserializes into either.
        let _: PasskeyAuthentication = state_part(&state)?;
        let credential = parse_assertion(credential)?;
        if !state.allow.contains(&b64(&credential.raw_id)) {
            return Err(invalid("the credential was not among allowCredentials"));
        }
        self.verify(state_part(&state)?, &credential, passkeys)
    }

    /// Verifies an assertion of a `start_discoverable` ceremony; `passkeys` are the passkeys of
    /// the user `identify` named.
    pub fn finish_discoverable(
        &self,
        state: &str,
        credential: &Value,
        passkeys: &[String],
    ) -> Result<Verified, WebauthnError> {
        let state = read_state(state, DISCOVERABLE)?;
        let credential = parse_assertion(credential)?;
        if credential.get_user_unique_id().is_none() {
            return Err(invalid("userHandle is missing"));
        }
        self.verify(state_part(&state)?, &credential, passkeys)
    }

    /// Challenge, origin, rp id hash, UP and UV flags, backup flags, signature and counter, all by
    /// webauthn-rs against the stored passkey: a counter that is non-zero (now or as stored) must
    /// be greater than the stored one.
    fn verify(
        &self,
        state: DiscoverableAuthentication,
        credential: &PublicKeyCredential,
        passkeys: &[String],
    ) -> Result<Verified, WebauthnError> {
        let mut passkey = find_passkey(passkeys, &credential.raw_id)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(credential, state, &passkey)
            .map_err(|e| invalid(format!("assertion did not verify: {e}")))?;
        let updated_passkey = match passkey.update_credential(&result) {
            Some(true) => Some(serde_json::to_string(&passkey).map_err(|e| config(e.to_string()))?),
            _ => None,
        };
        Ok(Verified {
            credential_id: b64(passkey.cred_id()),
            updated_passkey,
        })
    }
}

/// The bare request options: nulls stripped, `allowCredentials` only when non-empty.
fn request_options(options: &impl Serialize) -> Result<Value, WebauthnError> {
    let mut options = to_value(options)?;
    let empty = options["allowCredentials"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if empty && let Some(map) = options.as_object_mut() {
        map.remove("allowCredentials");
    }
    options["userVerification"] = json!("required");
    strip_nulls(&mut options);
    Ok(options)
}

#[cfg(test)]
mod tests;
