#!/usr/bin/env python3
"""Writes crates/core/tests/fixtures/libsodium-sealed.json: a bundle sealed by real libsodium.

PyNaCl's SealedBox wraps libsodium's crypto_box_seal, so the consumer's test that opens this
fixture proves it interoperates with libsodium and not only with dryoc. Run once by hand
(`pip install pynacl`); the output is committed. The key is a throwaway test key.
"""
import base64
import json
import pathlib

from nacl.public import PrivateKey, SealedBox

kid = "libsodium-test"
private = PrivateKey.generate()
plaintext = {
    "v": 1,
    "subscriber": "acme",
    "webhook_secrets": ["whsec_libsodium_old", "whsec_libsodium_new"],
    "stripe_api_key": "sk_test_libsodium",
}
sealed = SealedBox(private.public_key).encrypt(json.dumps(plaintext).encode())
fixture = {
    "keyset": {
        "version": 1,
        "keys": [{"kid": kid, "secret_key": base64.b64encode(bytes(private)).decode()}],
    },
    "public_key": base64.b64encode(bytes(private.public_key)).decode(),
    "sealed_bundle": f"{kid}.{base64.b64encode(sealed).decode()}",
    "subscriber": plaintext["subscriber"],
    "webhook_secrets": plaintext["webhook_secrets"],
    "stripe_api_key": plaintext["stripe_api_key"],
}
out = pathlib.Path(__file__).resolve().parent.parent / "crates/core/tests/fixtures/libsodium-sealed.json"
out.write_text(json.dumps(fixture, indent=2) + "\n")
print(f"wrote {out}")
