//! What payhook makes and checks, against producers and checkers it did not write: Stripe's
//! own Python library for `Stripe-Signature` (several `v1` during a secret roll included), and
//! libsodium (PyNaCl) for the bundles `payhook seal` makes.

use super::*;
use payhook::inbound::{sign_stripe_signature, verify_stripe_signature};
use payhook_testkit::python;
use secrecy::SecretString;

const BODY: &str =
    r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#;

/// Headers made by Stripe's library (`stripe.WebhookSignature.generate_signature_header`):
/// one per secret, and the one Stripe sends during a roll, with a `v1` per secret (and a `v0`).
#[test]
fn stripe_signatures_made_by_stripes_own_library_verify() {
    let out = python::run(
        r#"
import json, sys
from stripe import WebhookSignature as W
i = json.load(sys.stdin)
one = W.generate_signature_header(i["body"], i["new"], timestamp=i["t"])
old = W.generate_signature_header(i["body"], i["old"], timestamp=i["t"])
roll = "t=%d,v1=%s,v1=%s,v0=%s" % (
    i["t"], old.split("v1=")[1], one.split("v1=")[1], "0" * 64)
print(json.dumps({"one": one, "roll": roll}))
"#,
        &serde_json::json!({"body": BODY, "old": "whsec_old", "new": "whsec_new", "t": 1_795_000_000}),
    )
    .expect("Stripe's library");
    let headers: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let secrets = |names: &[&str]| -> Vec<SecretString> {
        names.iter().map(|s| SecretString::from(*s)).collect()
    };
    let verify = |header: &str, secrets: &[SecretString], body: &str| {
        verify_stripe_signature(header, body.as_bytes(), secrets, 1_795_000_001, 300)
    };
    let one = headers["one"].as_str().unwrap();
    let roll = headers["roll"].as_str().unwrap();
    assert!(verify(one, &secrets(&["whsec_new"]), BODY).is_ok());
    assert!(verify(one, &secrets(&["whsec_old"]), BODY).is_err());
    // During a roll any v1 by any of the subscriber's secrets will do.
    assert!(verify(roll, &secrets(&["whsec_old"]), BODY).is_ok());
    assert!(verify(roll, &secrets(&["whsec_new"]), BODY).is_ok());
    assert!(verify(roll, &secrets(&["whsec_other"]), BODY).is_err());
    assert!(verify(one, &secrets(&["whsec_new"]), &BODY.replace("pi_1", "pi_2")).is_err());
}

/// And Stripe's library accepts the headers payhook makes (the tools' deliveries, the demo).
#[test]
fn stripes_own_library_verifies_payhooks_signatures() {
    let header = sign_stripe_signature("whsec_new", 1_795_000_000, BODY.as_bytes());
    let out = python::run(
        r#"
import json, sys
from stripe import WebhookSignature as W
from stripe import SignatureVerificationError
i = json.load(sys.stdin)
def ok(body, secret):
    try:
        return W.verify_header(body, i["header"], secret)
    except SignatureVerificationError:
        return False
print(json.dumps([ok(i["body"], "whsec_new"), ok(i["body"], "whsec_old"),
                  ok(i["body"].replace("pi_1", "pi_2"), "whsec_new")]))
"#,
        &serde_json::json!({"body": BODY, "header": header}),
    )
    .expect("Stripe's library");
    assert_eq!(out.trim(), "[true, false, false]");
}

/// A bundle `payhook seal` made, opened by libsodium itself (PyNaCl): the sealed box with the
/// consumer's private key from `payhook keygen`'s key set, the issuer signature with the
/// issuer's public key, the payload as the format says.
#[test]
fn a_bundle_payhook_seal_makes_opens_and_verifies_with_libsodium() {
    let dir = temp_dir("libsodium");
    let (out, keyset, issuer) = keygen(&dir, "k-nacl");
    let public = public_key_of(&out);
    let bundle = ok(
        &[
            "seal",
            "--subscriber",
            "acme",
            "--public-key",
            &public,
            "--kid",
            "k-nacl",
            "--mode",
            "test",
            "--issuer-key-file",
            issuer.to_str().unwrap(),
        ],
        &[
            ("PAYHOOK_WEBHOOK_SECRETS", "whsec_one,whsec_two"),
            ("PAYHOOK_STRIPE_API_KEY", API_KEY),
        ],
    );
    let keyset: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keyset).unwrap()).unwrap();
    let opened = python::run(
        r#"
import base64, json, sys
from nacl.public import PrivateKey, SealedBox
from nacl.signing import VerifyKey
i = json.load(sys.stdin)
kid, box = i["bundle"].strip().split(".", 1)
key = next(k for k in i["keyset"]["keys"] if k["kid"] == kid)
signed = SealedBox(PrivateKey(base64.b64decode(key["secret_key"]))).decrypt(base64.b64decode(box))
issuer = i["keyset"]["issuers"][0]
payload = VerifyKey(base64.b64decode(issuer["public_key"])).verify(signed)
print(payload.decode())
"#,
        &serde_json::json!({"bundle": bundle, "keyset": keyset}),
    )
    .expect("libsodium opens and verifies it");
    let payload: serde_json::Value = serde_json::from_str(&opened).expect("payload JSON");
    assert_eq!(payload["v"], 2);
    assert_eq!(payload["issuer"], "op");
    assert_eq!(payload["subscriber"], "acme");
    assert_eq!(
        payload["webhook_secrets"],
        serde_json::json!(["whsec_one", "whsec_two"])
    );
    assert_eq!(payload["stripe_api_key"], API_KEY);
    let _ = std::fs::remove_dir_all(dir);
}
