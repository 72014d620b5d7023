"""Property-based: whatever JSON object or form a caller posts to POST /bookings, the answer is
never a 5xx (Oliver is up and answers; validation and matching must catch everything else)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from conftest import API, JANE_BOOKS_REX, created, http_event, listed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELDS = [
    "slot_id",
    "client_id",
    "client_remote_id",
    "first_name",
    "last_name",
    "name",
    "phone",
    "email",
    "patient_id",
    "patient_remote_id",
    "patient_name",
    "note",
    "status",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "success_url",
    "failure_url",
    "website",
    "cf-turnstile-response",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "REQUESTED",
            "1001",
            "jane@example.com",
            "(555) 555-0100",
            "Jane",
            "Doe",
            "Doe, Jane",
            "Rex",
            "slot-1",
            " ",
            "\r\n",
            "\u202e",
        ]
    )
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
KEYS = st.sampled_from(FIELDS) | st.text(max_size=12)
BOOKINGS = st.dictionaries(KEYS, VALUES, max_size=8)
#: A valid public core (Jane books Rex) more often than chance would give one, so that some
#: examples get through matching and reach the create.
LIKELY = st.fixed_dictionaries(
    {
        **{k: st.just(v) for k, v in JANE_BOOKS_REX.items()},
        "slot_id": st.text(min_size=1, max_size=20),
    }
).flatmap(
    lambda core: st.dictionaries(KEYS, VALUES, max_size=4).map(lambda extra: {**core, **extra})
)
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def upstream_up(oliver, reconfigure):
    # Every example comes from the same address: it is not throttled, so that all reach the code
    # behind the throttle. (conftest's lookup answers Jane to her email and phone.)
    reconfigure(THROTTLE_EXEMPT_CIDRS="203.0.113.0/24")
    oliver.post(f"{API}/appointments").respond(200, json=created(700))
    oliver.get(f"{API}/appointments").respond(200, json=listed())
    return oliver


#: JSON callers and browsers: the HTML answers (redirects, pages) must hold up as well.
ACCEPT = st.sampled_from(["application/json", "*/*", "text/html", "text/html,*/*;q=0.8"])


def posted(body: str, content_type: str, accept: str):
    headers = {"content-type": content_type, "accept": accept}
    return http_event("POST", "/bookings", body=body, headers=headers)


@SETTINGS
@given(fields=BOOKINGS | LIKELY, accept=ACCEPT)
def test_no_json_object_gets_a_5xx(invoke, upstream_up, fields, accept):
    answer = invoke(posted(json.dumps(fields), "application/json", accept))

    assert answer.status < 500, (answer.status, answer.body)


@SETTINGS
@given(fields=st.dictionaries(KEYS, st.text(max_size=30), max_size=8), accept=ACCEPT)
def test_no_form_gets_a_5xx(invoke, upstream_up, fields, accept):
    answer = invoke(posted(urlencode(fields), "application/x-www-form-urlencoded", accept))

    assert answer.status < 500, (answer.status, answer.body)
