"""Webhook bodies and signatures: exact bytes, HMAC-SHA256, stable delivery ids."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.distribution.connectors.webhook import delivery_id, encode, sign, verify


def test_the_signature_is_the_hmac_sha256_of_the_exact_body() -> None:
    body = encode({"event": "vigil.decisions", "add": [], "remove": [], "target": "t", "sent_at": "x"})

    assert body == b'{"add":[],"event":"vigil.decisions","remove":[],"sent_at":"x","target":"t"}'
    assert sign("k" * 16, body) == "sha256=" + hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()


@given(st.binary(), st.text(min_size=16))
def test_a_changed_body_or_secret_does_not_verify(body: bytes, secret: str) -> None:
    header = sign(secret, body)
    assert verify(secret, body, header)
    assert not verify(secret, body + b" ", header)
    assert not verify(secret + "x", body, header)
    assert not verify(secret, body, "")


def test_delivery_ids_depend_on_the_changes_not_on_the_time() -> None:
    add = [{"value": "203.0.113.7/32", "until": None, "decision_id": "d1", "comment": ""}]

    assert delivery_id("t", add, []) == delivery_id("t", list(add), [])
    assert delivery_id("t", add, []) != delivery_id("t", [], add)
    assert delivery_id("t", add, []) != delivery_id("u", add, [])
