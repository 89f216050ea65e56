"""Our signatures, judged by the `standardwebhooks` library (not by our own code)."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from trustroom.webhooks.service import new_secret
from trustroom.webhooks.signing import headers

BODY = json.dumps({"type": "member.created", "timestamp": "2026-11-22T18:00:00Z", "data": {"memberId": "x"}}).encode()


def test_a_delivery_verifies_with_the_library() -> None:
    secret = new_secret()
    sent = headers([secret], "msg_0190b5a06c1e7a3b9c2d3e4f5a6b7c8d", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, sent) == json.loads(BODY)


def test_during_a_rotation_both_secrets_verify_and_a_stranger_does_not() -> None:
    old, new = new_secret(), new_secret()
    sent = headers([new, old], "msg_rotation", int(time.time()), BODY)
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, sent)


def test_tampered_body_or_stale_timestamp_fails() -> None:
    secret = new_secret()
    sent = headers([secret], "msg_tamper", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"member", b"memb3r"), sent)
    stale = headers([secret], "msg_stale", int(time.time()) - 3600, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, stale)
