//! A software passkey for black-box tests: takes the bare `publicKey` options exactly as the API
//! returns them and answers what a browser's `credential.toJSON()` would send.
//!
//! It wraps webauthn-authenticator-rs's `SoftPasskey` (P-256 keys kept across calls, user
//! verification reported, a signature counter that counts up from 1). Like a platform passkey
//! provider it answers registrations with `none` attestation and a non-zero AAGUID, remembers
//! each credential's user handle, returns it as `userHandle`, and answers a discoverable request
//! (no `allowCredentials`) with the newest credential it holds for the rp id.
#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// The AAGUID reported with `none` attestation (Google Password Manager's).
pub const AAGUID: [u8; 16] = [
    0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4,
];

struct Held {
    rp_id: String,
    credential_id: Vec<u8>,
    user_handle: Vec<u8>,
}

pub struct SoftAuthenticator {
    passkey: SoftPasskey,
    held: Vec<Held>,
    /// `Some`: registrations carry `none` attestation with this AAGUID (the default);
    /// `None`: SoftPasskey's own `packed` self-attestation with a zero AAGUID.
    pub none_attestation_aaguid: Option<[u8; 16]>,
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        Self::new()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(value.as_str().expect("a base64url string"))
        .expect("base64url")
}

impl SoftAuthenticator {
    pub fn new() -> Self {
        SoftAuthenticator {
            passkey: SoftPasskey::new(true),
            held: Vec::new(),
            none_attestation_aaguid: Some(AAGUID),
        }
    }

    /// Credential ids (base64url) this authenticator holds, oldest first.
    pub fn credential_ids(&self) -> Vec<String> {
        self.held.iter().map(|h| b64(&h.credential_id)).collect()
    }

    /// `navigator.credentials.create({publicKey})` on a page of `origin`, then `toJSON()`.
    /// Panics where a browser would reject (e.g. rp id not matching the origin).
    pub fn register(&mut self, public_key: &Value, origin: &str) -> Value {
        let mut options = public_key.clone();
        // SoftPasskey refuses resident-key and platform requests; its keys stay in memory, which
        // is as discoverable as this helper needs.
        if let Some(selection) = options
            .get_mut("authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            selection.insert("requireResidentKey".into(), json!(false));
            selection.remove("authenticatorAttachment");
            selection
                .entry("userVerification")
                .or_insert(json!("preferred"));
        }
        let request: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options }))
                .expect("creation options the library reads");
        let rp_id = request.public_key.rp.id.clone();
        let user_handle = request.public_key.user.id.clone();
        let origin = Url::parse(origin).expect("an origin");
        let credential = self
            .passkey
            .do_registration(origin, request)
            .expect("the soft passkey registers");

        let mut attestation_object = credential.response.attestation_object.clone();
        let auth_data = auth_data_of(&attestation_object, &rp_id);
        if let Some(aaguid) = self.none_attestation_aaguid {
            attestation_object = none_attestation(&rp_id, &attestation_object, aaguid, 0);
        }
        self.held.push(Held {
            rp_id,
            credential_id: credential.raw_id.clone(),
            user_handle,
        });
        json!({
            "id": b64(&credential.raw_id),
            "rawId": b64(&credential.raw_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&credential.response.client_data_json),
                "attestationObject": b64(&attestation_object),
                "authenticatorData": b64(&auth_data),
                "transports": ["hybrid", "internal"],
                "publicKeyAlgorithm": -7,
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": { "credProps": { "rk": true } },
        })
    }

    /// `navigator.credentials.get({publicKey})` on a page of `origin`, then `toJSON()`.
    pub fn authenticate(&mut self, public_key: &Value, origin: &str) -> Value {
        let mut options = public_key.clone();
        let rp_id = options["rpId"].as_str().expect("rpId").to_owned();
        let listed = options["allowCredentials"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        if !listed {
            let newest = self
                .held
                .iter()
                .rev()
                .find(|h| h.rp_id == rp_id)
                .expect("a passkey for this rp id");
            options["allowCredentials"] =
                json!([{ "type": "public-key", "id": b64(&newest.credential_id) }]);
        }
        if options.get("userVerification").is_none() {
            options["userVerification"] = json!("preferred");
        }
        let request: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options }))
                .expect("request options the library reads");
        let origin = Url::parse(origin).expect("an origin");
        let assertion = self
            .passkey
            .do_authentication(origin, request)
            .expect("the soft passkey signs");
        let user_handle = self
            .held
            .iter()
            .find(|h| h.credential_id == assertion.raw_id)
            .map(|h| b64(&h.user_handle))
            .expect("a held credential");
        json!({
            "id": b64(&assertion.raw_id),
            "rawId": b64(&assertion.raw_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&assertion.response.client_data_json),
                "authenticatorData": b64(&assertion.response.authenticator_data),
                "signature": b64(&assertion.response.signature),
                "userHandle": user_handle,
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
    }
}

/// The authenticator data inside a CBOR attestation object: the byte string that starts with
/// SHA-256(rp id).
pub fn auth_data_of(attestation_object: &[u8], rp_id: &str) -> Vec<u8> {
    let hash = Sha256::digest(rp_id.as_bytes());
    let start = attestation_object
        .windows(32)
        .position(|w| w == &hash[..])
        .expect("authData in the attestation object");
    let len = match &attestation_object[..start] {
        [.., 0x58, len] => usize::from(*len),
        [.., 0x59, hi, lo] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => panic!("unexpected CBOR header before authData"),
    };
    attestation_object[start..start + len].to_vec()
}

/// Re-packs an attestation object as `none` attestation with `aaguid` and extra flag bits (e.g.
/// 0x18 = backup eligible + backed up); nothing is signed in `none` attestation.
pub fn none_attestation(
    rp_id: &str,
    attestation_object: &[u8],
    aaguid: [u8; 16],
    extra_flags: u8,
) -> Vec<u8> {
    let mut auth_data = auth_data_of(attestation_object, rp_id);
    auth_data[32] |= extra_flags;
    auth_data[37..53].copy_from_slice(&aaguid);
    let len = u16::try_from(auth_data.len()).expect("authData under 64 KiB");
    let mut out = vec![0xa3];
    out.push(0x63);
    out.extend_from_slice(b"fmt");
    out.push(0x64);
    out.extend_from_slice(b"none");
    out.push(0x67);
    out.extend_from_slice(b"attStmt");
    out.push(0xa0);
    out.push(0x68);
    out.extend_from_slice(b"authData");
    match u8::try_from(len) {
        Ok(short) => out.extend_from_slice(&[0x58, short]),
        Err(_) => {
            out.push(0x59);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&auth_data);
    out
}
