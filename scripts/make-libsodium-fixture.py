#!/usr/bin/env python3
"""Writes crates/core/tests/fixtures/libsodium-sealed.json: a bundle signed and sealed by real
libsodium, in the format README.md describes (Bundle format).

PyNaCl's SigningKey wraps libsodium's crypto_sign and its SealedBox crypto_box_seal, so the
consumer's test that opens and verifies this fixture proves the format is libsodium's and not
only dryoc's. Run once by hand (`pip install pynacl`); the output is committed. The keys are
throwaway test keys.
"""
import base64
import json
import pathlib

from nacl.public import PrivateKey, SealedBox
from nacl.signing import SigningKey

b64 = lambda raw: base64.b64encode(bytes(raw)).decode()

kid = "libsodium-test"
issuer = "libsodium-issuer"
consumer = PrivateKey.generate()
signing = SigningKey.generate()
payload = {
    "v": 2,
    "issuer": issuer,
    "subscriber": "acme",
    "webhook_secrets": ["whsec_libsodium_old", "whsec_libsodium_new"],
    "stripe_api_key": "sk_test_libsodium",
}
# SigningKey.sign returns libsodium's combined form: the 64-byte signature, then the payload.
signed = signing.sign(json.dumps(payload).encode())
sealed = SealedBox(consumer.public_key).encrypt(bytes(signed))
fixture = {
    "keyset": {
        "version": 2,
        "keys": [{"kid": kid, "secret_key": b64(consumer)}],
        "issuers": [{"kid": issuer, "public_key": b64(signing.verify_key)}],
    },
    "public_key": b64(consumer.public_key),
    "sealed_bundle": f"{kid}.{b64(sealed)}",
    "issuer": issuer,
    "subscriber": payload["subscriber"],
    "webhook_secrets": payload["webhook_secrets"],
    "stripe_api_key": payload["stripe_api_key"],
}
out = pathlib.Path(__file__).resolve().parent.parent / "crates/core/tests/fixtures/libsodium-sealed.json"
out.write_text(json.dumps(fixture, indent=2) + "\n")
print(f"wrote {out}")
