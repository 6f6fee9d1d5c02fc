//! Ceremonies against webauthn-authenticator-rs's SoftPasskey, through the same helper the API
//! tests use.
#![allow(clippy::cloned_ref_to_slice_refs)]

#[path = "../../../tests/api/soft_passkey.rs"]
mod soft_passkey;

use serde_json::{Value, json};
use soft_passkey::{SoftAuthenticator, none_attestation};

use super::*;

const ORIGIN: &str = "http://localhost:8080";

fn passkeys() -> Passkeys {
    Passkeys::new(ORIGIN, "localhost", "Charter").expect("config")
}

fn no_nulls(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Object(map) => map.values().all(no_nulls),
        Value::Array(items) => items.iter().all(no_nulls),
        _ => true,
    }
}

/// Registers a new passkey for `handle` and returns it.
fn register(
    pk: &Passkeys,
    auth: &mut SoftAuthenticator,
    handle: &str,
    exclude: &[String],
) -> Registered {
    let (options, state) = pk
        .start_registration(handle, "ada@example.com", "Ada", exclude)
        .unwrap();
    let credential = auth.register(&options, ORIGIN);
    pk.finish_registration(&state, &credential)
        .expect("registration verifies")
}

/// Asserts an `Invalid` error whose message names `reason`.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, WebauthnError>, reason: &str) {
    match result {
        Err(WebauthnError::Invalid(message)) if message.contains(reason) => {}
        other => panic!("expected Invalid({reason}…), got {other:?}"),
    }
}

/// Flips the low bit of byte `index` of a response member (negative: from the end).
fn flip_byte(credential: &mut Value, member: &str, index: isize) {
    let text = credential["response"][member].as_str().unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(text).unwrap();
    let index = index.rem_euclid(bytes.len() as isize) as usize;
    bytes[index] ^= 0x01;
    credential["response"][member] = json!(b64(&bytes));
}

#[test]
fn registration_options_shape() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    let handle = new_user_handle();
    let first = register(&pk, &mut auth, &handle, &[]);

    let (options, state) = pk
        .start_registration(&handle, "ada@example.com", "Ada", &[first.passkey.clone()])
        .unwrap();
    assert!(no_nulls(&options), "{options}");
    assert!(options.get("publicKey").is_none());
    assert_eq!(options["rp"], json!({"id": "localhost", "name": "Charter"}));
    let uuid = Uuid::parse_str(&handle).unwrap();
    assert_eq!(options["user"]["id"], json!(b64(uuid.as_bytes())));
    assert_eq!(options["user"]["name"], "ada@example.com");
    assert_eq!(options["user"]["displayName"], "Ada");
    assert_eq!(
        decode_b64(options["challenge"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    let algs: Vec<i64> = options["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert!(algs.contains(&-7) && algs.contains(&-257), "{algs:?}");
    assert!(
        options["pubKeyCredParams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["type"] == "public-key")
    );
    assert_eq!(
        options["excludeCredentials"],
        json!([{"type": "public-key", "id": first.credential_id}])
    );
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["attestation"], "none");
    assert!(options["timeout"].as_u64().unwrap() > 0);
    assert_eq!(read_state(&state, REGISTRATION).unwrap().kind, REGISTRATION);

    // The same handle gives the same user.id; none excluded still lists an (empty) array.
    let (again, _) = pk
        .start_registration(&handle, "ada@example.com", "", &[])
        .unwrap();
    assert_eq!(again["user"]["id"], options["user"]["id"]);
    assert_eq!(again["user"]["displayName"], "ada@example.com");
    assert_eq!(again["excludeCredentials"], json!([]));
    assert_ne!(again["challenge"], options["challenge"]);
}

#[test]
fn request_options_shape() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    let reg = register(&pk, &mut auth, &new_user_handle(), &[]);

    let (options, _) = pk.start_authentication(&[reg.passkey.clone()]).unwrap();
    assert!(no_nulls(&options), "{options}");
    assert!(options.get("publicKey").is_none());
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["userVerification"], "required");
    assert!(options["challenge"].is_string());
    let allow = options["allowCredentials"].as_array().unwrap();
    assert_eq!(allow.len(), 1);
    assert_eq!(allow[0]["id"], json!(reg.credential_id));
    assert_eq!(allow[0]["type"], "public-key");

    let (options, _) = pk.start_discoverable().unwrap();
    assert!(no_nulls(&options), "{options}");
    assert!(options.get("allowCredentials").is_none() && options.get("mediation").is_none());
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["userVerification"], "required");

    assert!(matches!(
        pk.start_authentication(&[]),
        Err(WebauthnError::Config(_))
    ));
}

#[test]
fn register_then_authenticate() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    let mut stored = register(&pk, &mut auth, &new_user_handle(), &[]);
    assert_eq!(auth.credential_ids(), vec![stored.credential_id.clone()]);

    for _ in 0..3 {
        let (options, state) = pk.start_authentication(&[stored.passkey.clone()]).unwrap();
        let credential = auth.authenticate(&options, ORIGIN);
        let verified = pk
            .finish_authentication(&state, &credential, &[stored.passkey.clone()])
            .unwrap();
        assert_eq!(verified.credential_id, stored.credential_id);
        // The soft passkey's counter goes up every time.
        stored.passkey = verified.updated_passkey.expect("the counter moved");
    }
}

#[test]
fn discoverable_sign_in_and_identify() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    let handle = new_user_handle();
    let reg = register(&pk, &mut auth, &handle, &[]);
    let other = register(&pk, &mut SoftAuthenticator::new(), &new_user_handle(), &[]);

    let (options, state) = pk.start_discoverable().unwrap();
    let credential = auth.authenticate(&options, ORIGIN);
    assert_eq!(
        pk.identify(&credential).unwrap(),
        (handle.clone(), reg.credential_id.clone())
    );
    // Another user's passkeys do not contain it.
    assert!(
        pk.finish_discoverable(&state, &credential, &[other.passkey.clone()])
            .is_err()
    );
    let verified = pk
        .finish_discoverable(&state, &credential, &[other.passkey, reg.passkey.clone()])
        .unwrap();
    assert_eq!(verified.credential_id, reg.credential_id);

    // Without a userHandle nothing is identified, and a discoverable finish refuses it.
    let (options, state) = pk.start_discoverable().unwrap();
    let mut credential = auth.authenticate(&options, ORIGIN);
    credential["response"]["userHandle"] = Value::Null;
    assert!(matches!(
        pk.identify(&credential),
        Err(WebauthnError::Invalid(_))
    ));
    assert!(
        pk.finish_discoverable(&state, &credential, &[reg.passkey])
            .is_err()
    );
}

#[test]
fn none_attestation_with_aaguid_and_backup_flags_is_accepted() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    auth.none_attestation_aaguid = None; // packed self-attestation, zero AAGUID
    register(&pk, &mut auth, &new_user_handle(), &[]);

    let (options, state) = pk
        .start_registration(&new_user_handle(), "ada@example.com", "Ada", &[])
        .unwrap();
    let mut credential = auth.register(&options, ORIGIN);
    let object = URL_SAFE_NO_PAD
        .decode(
            credential["response"]["attestationObject"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let synced = none_attestation("localhost", &object, soft_passkey::AAGUID, 0x18);
    credential["response"]["attestationObject"] = json!(b64(&synced));
    pk.finish_registration(&state, &credential)
        .expect("synced passkey accepted");
}

#[test]
fn unknown_members_are_ignored() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    let (options, state) = pk
        .start_registration(&new_user_handle(), "ada@example.com", "Ada", &[])
        .unwrap();
    let mut credential = auth.register(&options, ORIGIN);
    credential["extra"] = json!({"x": 1});
    credential["response"]["publicKey"] = json!("MFkw");
    credential["response"]["transports"] = json!(["internal", "smart-card"]);
    credential["clientExtensionResults"]["prf"] = json!({"enabled": true});
    let reg = pk.finish_registration(&state, &credential).unwrap();

    let (options, state) = pk.start_authentication(&[reg.passkey.clone()]).unwrap();
    let mut credential = auth.authenticate(&options, ORIGIN);
    credential["response"]["attestationObject"] = json!(null);
    credential["extra"] = json!([1, 2]);
    credential["clientExtensionResults"] = json!({"appid": "odd shape", "largeBlob": {}});
    pk.finish_authentication(&state, &credential, &[reg.passkey])
        .unwrap();
}

#[test]
fn tampered_assertions_fail() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    let reg = register(&pk, &mut auth, &new_user_handle(), &[]);
    let stored = [reg.passkey.clone()];
    let mut attempt = |tamper: &dyn Fn(&mut Value)| {
        let (options, state) = pk.start_authentication(&stored).unwrap();
        let mut credential = auth.authenticate(&options, ORIGIN);
        tamper(&mut credential);
        pk.finish_authentication(&state, &credential, &stored)
    };
    assert!(attempt(&|_| {}).is_ok());
    // The last byte of the DER signature: still DER, no longer valid.
    refused(attempt(&|c| flip_byte(c, "signature", -1)), "failed");
    // Its length byte: not even DER.
    refused(attempt(&|c| flip_byte(c, "signature", 1)), "signature");
    // The counter byte: the signature no longer matches.
    refused(
        attempt(&|c| flip_byte(c, "authenticatorData", 36)),
        "failed",
    );
    refused(
        attempt(&|c| flip_byte(c, "authenticatorData", 32)),
        "present",
    );
    refused(
        attempt(&|c| flip_byte(c, "authenticatorData", 0)),
        "id hash",
    );
    refused(attempt(&|c| flip_byte(c, "clientDataJSON", 3)), "");
    assert!(attempt(&|c| c["response"]["signature"] = json!("")).is_err());
    assert!(attempt(&|c| c["type"] = json!("other")).is_err());
    assert!(attempt(&|c| c["rawId"] = json!("AAAA")).is_err());
    assert!(attempt(&|c| *c = json!("not an object")).is_err());
}

#[test]
fn user_verification_is_required() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    let (mut options, state) = pk
        .start_registration(&new_user_handle(), "ada@example.com", "Ada", &[])
        .unwrap();
    options["authenticatorSelection"]["userVerification"] = json!("discouraged");
    let credential = auth.register(&options, ORIGIN); // UP only
    refused(pk.finish_registration(&state, &credential), "verified bit");

    let reg = register(&pk, &mut auth, &new_user_handle(), &[]);
    let (mut options, state) = pk.start_authentication(&[reg.passkey.clone()]).unwrap();
    options["userVerification"] = json!("discouraged");
    let credential = auth.authenticate(&options, ORIGIN); // validly signed, UP only
    refused(
        pk.finish_authentication(&state, &credential, &[reg.passkey]),
        "verified bit",
    );
}

#[test]
fn wrong_origin_fails() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    for origin in [
        "http://localhost:9999",
        "https://localhost:8080",
        "http://localhost",
    ] {
        let (options, state) = pk
            .start_registration(&new_user_handle(), "ada@example.com", "Ada", &[])
            .unwrap();
        let credential = auth.register(&options, origin);
        refused(pk.finish_registration(&state, &credential), "origin");
    }
    let reg = register(&pk, &mut auth, &new_user_handle(), &[]);
    let (options, state) = pk.start_authentication(&[reg.passkey.clone()]).unwrap();
    let credential = auth.authenticate(&options, "http://localhost:9999");
    refused(
        pk.finish_authentication(&state, &credential, &[reg.passkey.clone()]),
        "origin",
    );

    // Right origin and challenge, but signed for another rp id (a registrable suffix of it).
    let app = Passkeys::new("https://app.localhost:8443", "app.localhost", "App").unwrap();
    let (options, state) = app
        .start_registration(&new_user_handle(), "ada@example.com", "Ada", &[])
        .unwrap();
    let credential = auth.register(&options, "https://app.localhost:8443");
    let reg = app.finish_registration(&state, &credential).unwrap();
    let (mut options, state) = app.start_authentication(&[reg.passkey.clone()]).unwrap();
    options["rpId"] = json!("localhost");
    let credential = auth.authenticate(&options, "https://app.localhost:8443");
    refused(
        app.finish_authentication(&state, &credential, &[reg.passkey]),
        "relying party id hash",
    );
}

#[test]
fn other_ceremonies_do_not_verify() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    let handle = new_user_handle();
    let (options_a, _state_a) = pk
        .start_registration(&handle, "ada@example.com", "Ada", &[])
        .unwrap();
    let (_, state_b) = pk
        .start_registration(&handle, "ada@example.com", "Ada", &[])
        .unwrap();
    let credential = auth.register(&options_a, ORIGIN);
    refused(pk.finish_registration(&state_b, &credential), "challenge");

    let reg = register(&pk, &mut auth, &handle, &[]);
    let stored = [reg.passkey.clone()];
    let (options_a, state_a) = pk.start_authentication(&stored).unwrap();
    let (_, state_b) = pk.start_authentication(&stored).unwrap();
    let credential = auth.authenticate(&options_a, ORIGIN);
    refused(
        pk.finish_authentication(&state_b, &credential, &stored),
        "challenge",
    );
    // States of one kind are refused by another ceremony.
    let (_, discoverable) = pk.start_discoverable().unwrap();
    assert!(
        pk.finish_discoverable(&state_a, &credential, &stored)
            .is_err()
    );
    assert!(
        pk.finish_authentication(&discoverable, &credential, &stored)
            .is_err()
    );
    assert!(pk.finish_registration(&state_a, &credential).is_err());
    assert!(
        pk.finish_authentication("garbage", &credential, &stored)
            .is_err()
    );
    // A passkey of the user that was not in allowCredentials is refused.
    let second = register(&pk, &mut auth, &handle, &[]);
    let (options, state) = pk.start_authentication(&[reg.passkey.clone()]).unwrap();
    let mut options = options;
    options["allowCredentials"] = json!([{"type": "public-key", "id": second.credential_id}]);
    let credential = auth.authenticate(&options, ORIGIN);
    assert!(
        pk.finish_authentication(&state, &credential, &[reg.passkey.clone(), second.passkey])
            .is_err()
    );
    // The right ceremony still works.
    assert!(
        pk.finish_authentication(&state_a, &auth.authenticate(&options_a, ORIGIN), &stored)
            .is_ok()
    );
}

#[test]
fn counter_must_not_go_backwards() {
    let pk = passkeys();
    let mut auth = SoftAuthenticator::new();
    let reg = register(&pk, &mut auth, &new_user_handle(), &[]);
    let stored = [reg.passkey.clone()];
    // Two ceremonies started together; the authenticator signs counter 1 then 2.
    let (options_1, state_1) = pk.start_authentication(&stored).unwrap();
    let (options_2, state_2) = pk.start_authentication(&stored).unwrap();
    let first = auth.authenticate(&options_1, ORIGIN);
    let second = auth.authenticate(&options_2, ORIGIN);
    let verified = pk
        .finish_authentication(&state_2, &second, &stored)
        .unwrap();
    let updated = [verified.updated_passkey.expect("counter 2 stored")];
    // Counter 1 after a stored 2 fails, though the ceremony's own snapshot had 0.
    let err = pk
        .finish_authentication(&state_1, &first, &updated)
        .unwrap_err();
    refused(Err::<(), _>(err), "compromised");
    // And against the pre-update passkey it would have verified: the counter is what failed.
    assert!(pk.finish_authentication(&state_1, &first, &stored).is_ok());
    // An equal, non-zero counter (a replayed signature count) fails too.
    refused(
        pk.finish_authentication(&state_2, &second, &updated),
        "compromised",
    );
}

#[test]
fn config_errors() {
    assert!(matches!(
        Passkeys::new("http://127.0.0.1:8080", "127.0.0.1", "x"),
        Err(WebauthnError::Config(_))
    ));
    assert!(matches!(
        Passkeys::new("http://localhost:8080", "example.com", "x"),
        Err(WebauthnError::Config(_))
    ));
    assert!(matches!(
        Passkeys::new("not a url", "localhost", "x"),
        Err(WebauthnError::Config(_))
    ));
    assert!(matches!(
        passkeys().start_registration("not-a-uuid", "a@b.c", "A", &[]),
        Err(WebauthnError::Config(_))
    ));
    assert!(matches!(
        passkeys().start_authentication(&["{}".into()]),
        Err(WebauthnError::Config(_))
    ));
}
