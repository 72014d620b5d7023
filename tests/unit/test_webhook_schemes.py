"""Signature schemes (CONTRACT §3): `timestamped-hmac` (the `t=…,v1=…` header Calendly and Stripe
use) through the handler and the verifier, the tools' schemes against the signatures of the
sample deliveries in events/ (computed with OpenSSL, apart from our code), and the partner kit's
signatures accepted by the verifier for every scheme.

No tool publishes a signing example with its secret, body and signature; the test vectors here
are the events/ files, signed with the demo secrets of the local stack (local/aws.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from booking.config import WebhookSource
from booking.errors import SignatureRejected
from booking.webhooks import verify_signature
from conftest import API, created, http_event, load_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local import aws as local_aws
from local.sign_webhook import sign

SECRET = "calendly-style-signing-key-5b1e"
RETIRING = "the-signing-key-being-rotated-out"
BODY = json.dumps({"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001})
TIMESTAMPED = {"scheme": "timestamped-hmac", "header": "X-Partner-Signature"}
SAMPLE_STAMP = 1893942255  # when the events/ samples were signed (2030-01-06T15:04:15Z)


def source(**options: Any) -> WebhookSource:
    return WebhookSource.parse({**TIMESTAMPED, **options})


def header(at: float, body: str = BODY, secret: str = SECRET) -> str:
    stamp = str(int(at))
    digest = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


@contextmanager
def refused(reason: str) -> Iterator[None]:
    """The verifier refuses, for this reason (the log's; the caller never learns it)."""
    with pytest.raises(SignatureRejected) as caught:
        yield
    assert reason in caught.value.reason


def verify(value: str, body: str = BODY, secrets: list[str] | None = None, **options: Any) -> None:
    verify_signature(
        source(**options),
        secrets or [SECRET],
        {"x-partner-signature": value},
        body.encode(),
    )


# -- timestamped-hmac: the verifier ---------------------------------------------------------------


def test_a_fresh_signature_of_the_timestamp_and_body_is_accepted():
    verify(header(time.time()))


@pytest.mark.parametrize("offset", [-290, 290], ids=["old", "ahead"])
def test_a_timestamp_within_the_tolerance_either_way_is_accepted(offset):
    verify(header(time.time() + offset))


@pytest.mark.parametrize("offset", [-310, 310], ids=["stale", "future"])
def test_a_timestamp_outside_the_tolerance_is_refused(offset):
    with refused("tolerance"):
        verify(header(time.time() + offset))


def test_tolerance_seconds_narrows_the_window():
    with pytest.raises(SignatureRejected):
        verify(header(time.time() - 120), tolerance_seconds=60)


def test_a_tampered_body_is_refused():
    with refused("no signature"):
        verify(header(time.time()), body=BODY.replace("slot-1", "slot-2"))


def test_a_tampered_timestamp_is_refused():
    stamp = int(time.time())
    value = header(stamp).replace(f"t={stamp}", f"t={stamp - 1}")
    with refused("no signature"):
        verify(value)


def test_a_tampered_digest_is_refused():
    value = header(time.time())
    value = value[:-1] + ("0" if value[-1] != "0" else "1")
    with refused("no signature"):
        verify(value)


def test_the_signature_of_the_body_alone_is_refused():
    stamp = int(time.time())
    digest = hmac.new(SECRET.encode(), BODY.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(SignatureRejected):
        verify(f"t={stamp},v1={digest}")


def test_during_a_rotation_either_secret_may_sign():
    verify(header(time.time(), secret=SECRET), secrets=[RETIRING, SECRET])
    verify(header(time.time(), secret=RETIRING), secrets=[RETIRING, SECRET])


def test_one_matching_v1_among_several_is_enough():
    stamp = int(time.time())
    good = header(stamp).split(",v1=")[1]
    verify(f"t={stamp},v1={'0' * 64},v1={good.upper()},v0={good}")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "v1=" + "0" * 64,
        "t=,v1=" + "0" * 64,
        "t=soon,v1=" + "0" * 64,
        f"t={int(time.time())},t={int(time.time())},v1=00",
        f"t={int(time.time())}",
        "t=²,v1=00",
        "t=" + "9" * 5000 + ",v1=00",
    ],
    ids=[
        "empty",
        "no-timestamp",
        "empty-timestamp",
        "word",
        "two-timestamps",
        "no-v1",
        "superscript-digit",
        "5000-digits",
    ],
)
def test_a_malformed_header_is_refused_not_a_crash(value):
    with pytest.raises(SignatureRejected):
        verify(value)


def test_a_valid_digest_under_another_version_is_ignored():
    value = header(time.time()).replace("v1=", "v2=")
    with refused("no signature"):
        verify(value)


TAMPERING = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@TAMPERING
@given(
    part=st.sampled_from(["body", "header"]),
    index=st.integers(min_value=0),
    mask=st.integers(min_value=1, max_value=127),
)
def test_any_tampering_is_refused(part, index, mask):
    value, body = header(time.time()), BODY
    if part == "body":
        data = bytearray(body.encode())
        data[index % len(data)] ^= mask
        body = data.decode("latin-1")
    else:
        data = bytearray(value.encode())
        position = index % len(data)
        data[position] ^= mask
        changed = data.decode("latin-1")
        # Hex digests are compared case-insensitively: a change of case is the same signature.
        if changed.lower() == value.lower():
            return
        value = changed
    with pytest.raises(SignatureRejected):
        verify(value, body=body)


# -- timestamped-hmac: through the handler --------------------------------------------------------


@pytest.fixture
def partner(aws, reconfigure):
    arn = aws.secrets.create_secret(
        Name="booking/webhooks", SecretString=json.dumps({"p": [RETIRING, SECRET]})
    )["ARN"]
    reconfigure(WEBHOOK_SOURCES=json.dumps({"p": TIMESTAMPED}), WEBHOOK_SECRET_ID=arn)


def delivery(value: str | None, body: str = BODY) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if value is not None:
        headers["x-partner-signature"] = value
    return http_event(
        "POST",
        "/webhooks/p",
        body=body,
        headers=headers,
        route="POST /webhooks/{source}",
        path_parameters={"source": "p"},
    )


def test_a_timestamped_hmac_delivery_books(partner, invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))

    answer = invoke(delivery(header(time.time())))

    assert answer.status == 201, answer.body
    assert create.called


@pytest.mark.parametrize(
    "value",
    [None, "t=1,v1=00", header(time.time() - 3600), header(time.time() + 3600)],
    ids=["unsigned", "forged", "stale", "future"],
)
def test_a_refused_timestamped_delivery_is_one_401_and_books_nothing(
    partner, invoke, oliver, value
):
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))

    answer = invoke(delivery(value))

    assert answer.status == 401
    assert answer.json() == {
        "success": False,
        "code": "invalid_signature",
        "message": "The webhook signature is not valid.",
    }
    assert not create.called


@pytest.mark.parametrize(
    "options",
    [
        {"encoding": "base64"},
        {"prefix": "sha256="},
        {"timestamp_header": "X-Timestamp"},
        {"tolerance_seconds": 0},
    ],
    ids=["base64", "prefix", "timestamp-header", "no-tolerance"],
)
def test_options_timestamped_hmac_cannot_honour_are_a_configuration_error(
    reconfigure, invoke, options
):
    reconfigure(WEBHOOK_SOURCES=json.dumps({"p": {**TIMESTAMPED, **options}}))

    answer = invoke(delivery(header(time.time())))

    assert answer.status == 503
    assert answer.json()["code"] == "configuration_error"


# -- the tools' schemes: the sample deliveries' signatures (test vectors) ------------------------

SAMPLES = {
    "webhook-calcom.json": "calcom-demo",
    "webhook-calcom-cancelled.json": "calcom-demo",
    "webhook-calendly.json": "calendly-demo",
    "webhook-calendly-canceled.json": "calendly-demo",
    "webhook-typeform.json": "typeform-demo",
    "webhook-tally.json": "tally-demo",
}


def preset(name: str) -> WebhookSource:
    return WebhookSource.parse(local_aws.DEMO_PRESET_SOURCES[name])


@pytest.mark.parametrize("sample", SAMPLES)
def test_each_samples_signature_verifies_with_its_demo_secret(sample):
    # Given a sample delivery signed with OpenSSL under its tool's scheme and demo secret
    event = load_event(sample)
    name = SAMPLES[sample]

    # Then our verifier accepts it (at the time it was signed), and refuses another secret
    verify_signature(
        preset(name),
        [local_aws.DEMO_PRESET_SECRETS[name]],
        event["headers"],
        event["body"].encode(),
        now=SAMPLE_STAMP,
    )
    with pytest.raises(SignatureRejected):
        verify_signature(
            preset(name), ["another-secret"], event["headers"], event["body"].encode(), SAMPLE_STAMP
        )


def test_a_calendly_sample_is_stale_a_day_later():
    event = load_event("webhook-calendly.json")
    with refused("tolerance"):
        verify_signature(
            preset("calendly-demo"),
            [local_aws.DEMO_PRESET_SECRETS["calendly-demo"]],
            event["headers"],
            event["body"].encode(),
            now=SAMPLE_STAMP + 86_400,
        )


@pytest.mark.parametrize(
    ("name", "header_name", "shape"),
    [
        ("calcom-demo", "X-Cal-Signature-256", r"^[0-9a-f]{64}$"),
        ("calendly-demo", "Calendly-Webhook-Signature", r"^t=[0-9]+,v1=[0-9a-f]{64}$"),
        ("typeform-demo", "Typeform-Signature", r"^sha256=[A-Za-z0-9+/]{43}=$"),
        ("tally-demo", "Tally-Signature", r"^[A-Za-z0-9+/]{43}=$"),
    ],
)
def test_the_presets_sign_in_the_header_and_shape_their_tool_documents(name, header_name, shape):
    headers = sign(preset(name), "secret", b"{}")

    assert re.match(shape, headers[header_name])


# -- the partner kit signs what the verifier accepts, for every scheme ----------------------------


@pytest.mark.parametrize(
    ("options", "secret"),
    [
        ({"scheme": "standard-webhooks"}, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ({"scheme": "hmac-sha256"}, "s3cr3t"),
        ({"scheme": "hmac-sha256", "encoding": "base64", "prefix": "sha256="}, "s3cr3t"),
        ({"scheme": "hmac-sha256", "timestamp_header": "X-Timestamp"}, "s3cr3t"),
        ({"scheme": "timestamped-hmac", "header": "Stripe-Signature"}, "s3cr3t"),
        *[(options, "s3cr3t") for options in local_aws.DEMO_PRESET_SOURCES.values()],
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else "",
)
def test_the_partner_kit_signs_what_the_verifier_accepts(options, secret):
    configured = WebhookSource.parse(options)
    headers = {k.lower(): v for k, v in sign(configured, secret, BODY.encode()).items()}

    verify_signature(configured, [secret], headers, BODY.encode())
    with pytest.raises(SignatureRejected):
        verify_signature(configured, [secret], headers, BODY.encode() + b" ")
