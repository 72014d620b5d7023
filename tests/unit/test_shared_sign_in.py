"""One sign-in for the whole deployment (issue 15, item 5; README: The Oliver secret).

The token refresher (``functions/token_refresher``) signs in with the partner credentials of the
Oliver secret and writes the JWT back into it; the functions use that token and never sign in
while it is current. After a 401 a function reads the secret afresh: a rotated token is retried,
the same token means it signs in itself once and writes its token back for the others.

Handler level: the real handlers, Oliver behind respx, Secrets Manager behind moto. The last test
runs two containers against the Oliver sandbox with its "tokens revoked on sign-in" switch."""

from __future__ import annotations

import importlib.util
import inspect
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from booking.errors import UpstreamAuthFailed
from conftest import (
    API,
    JANE_BOOKS_REX,
    LOCATION,
    ROOT,
    SIGN_IN,
    Context,
    bearer,
    booking_event,
    client,
    created,
    jwt,
    signed_in,
)

PASSWORD = "pa55-w0rd-shared-secret"
CREDENTIALS = {"username": "partner-user", "password": PASSWORD, "location_id": LOCATION}
REFUSED = {"success": False, "message": "Token revoked"}


def shared(token: str, expires_at: float | None = None) -> str:
    """A credentials secret holding the deployment's token, as the refresher writes it."""
    value: dict[str, Any] = {**CREDENTIALS, "token": token}
    if expires_at is not None:
        value["token_expires_at"] = int(expires_at)
    return json.dumps(value)


def stored(aws: Any) -> dict[str, Any]:
    return json.loads(aws.secrets.get_secret_value(SecretId=aws.secret_arn)["SecretString"])


def versions(aws: Any) -> list[dict[str, Any]]:
    """Each version of the secret: its id and its staging labels."""
    answer = aws.secrets.list_secret_version_ids(SecretId=aws.secret_arn)
    return [
        {"VersionId": v["VersionId"], "VersionStages": v.get("VersionStages", [])}
        for v in answer["Versions"]
    ]


def book(invoke: Callable[..., Any], slot: str) -> Any:
    return invoke(booking_event({**JANE_BOOKS_REX, "slot_id": slot}))


_REFRESHER: Any = None


@pytest.fixture
def refresher(env: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """The token refresher's real ``lambda_handler`` (its module imported once per session)."""
    global _REFRESHER
    if _REFRESHER is None:
        path = ROOT / "functions" / "token_refresher" / "app.py"
        spec = importlib.util.spec_from_file_location("_token_refresher_app", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _REFRESHER = module.lambda_handler

    def run(event: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = _REFRESHER(event or {}, Context(timeout_ms=30_000))
        return result

    return run


# -- the refresher ---------------------------------------------------------------------------------


def test_the_refresher_signs_in_once_and_writes_the_token_into_a_credentials_secret(
    aws, oliver, refresher
):
    aws.set_secret(json.dumps(CREDENTIALS))
    exp = int(time.time()) + 3600
    token = jwt(exp)
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(token))
    before = {v["VersionId"] for v in versions(aws)}

    result = refresher()

    assert result == {
        "signed_in": True,
        "reason": "no_token",
        "expires_at": exp,
        "lifetime": pytest.approx(3600, abs=5),
    }
    assert sign_in.call_count == 1
    assert json.loads(sign_in.calls.last.request.content) == {
        "username": "partner-user",
        "password": PASSWORD,
        "role": "ROLE_API",
    }
    # The same credentials plus the token, as a new version that became AWSCURRENT.
    assert stored(aws) == {**CREDENTIALS, "token": token, "token_expires_at": exp}
    (current,) = [v for v in versions(aws) if "AWSCURRENT" in v["VersionStages"]]
    assert current["VersionId"] not in before

    # A run while the token is good for longer than the next run plus ten minutes does nothing.
    again = refresher()

    assert again == {"signed_in": False, "reason": "current", "expires_at": exp, "lifetime": None}
    assert sign_in.call_count == 1
    assert len(versions(aws)) == len(before) + 1


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        pytest.param(lambda now: shared(jwt(now + 15 * 60)), "expiring", id="exp-in-15-min"),
        pytest.param(lambda now: shared("opaque", now + 19 * 60), "expiring", id="recorded-19-min"),
        pytest.param(lambda now: shared("opaque-without-expiry"), "unknown_expiry", id="unknown"),
    ],
)
def test_the_refresher_renews_a_token_that_would_expire_before_the_next_run(
    aws, oliver, refresher, secret, reason
):
    now = time.time()
    aws.set_secret(secret(now))
    token = jwt(now + 3600)
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(token))

    result = refresher()

    assert (result["signed_in"], result["reason"]) == (True, reason)
    assert sign_in.call_count == 1
    assert stored(aws)["token"] == token


def test_a_token_without_exp_is_recorded_as_good_for_ten_minutes(aws, oliver, refresher):
    aws.set_secret(json.dumps(CREDENTIALS))
    oliver.post(SIGN_IN).respond(200, json=signed_in("opaque-partner-token"))

    before = int(time.time())
    refresher()
    after = int(time.time())

    value = stored(aws)
    assert value["token"] == "opaque-partner-token"
    assert before + 600 <= value["token_expires_at"] <= after + 600


def test_an_invocation_with_force_signs_in_even_while_the_token_is_current(aws, oliver, refresher):
    aws.set_secret(shared(jwt(time.time() + 3600)))
    fresh = jwt(time.time() + 3600)
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(fresh))

    assert refresher({"force": True})["reason"] == "forced"
    assert sign_in.call_count == 1
    assert stored(aws)["token"] == fresh


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("bare-partner-token", id="bare-token"),
        pytest.param(json.dumps({"token": "tok-form", "location_id": LOCATION}), id="token-json"),
    ],
)
def test_the_refresher_leaves_a_token_secret_alone(aws, oliver, refresher, value):
    aws.set_secret(value)
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(jwt(time.time() + 3600)))
    before = versions(aws)

    result = refresher()

    assert result == {
        "signed_in": False,
        "reason": "no_credentials",
        "expires_at": None,
        "lifetime": None,
    }
    assert not sign_in.called
    assert aws.secrets.get_secret_value(SecretId=aws.secret_arn)["SecretString"] == value
    assert versions(aws) == before


def test_refused_credentials_fail_the_run_and_leave_the_secret_as_it_was(
    aws, oliver, refresher, printed
):
    aws.set_secret(json.dumps(CREDENTIALS))
    oliver.post(SIGN_IN).respond(401, json={"success": False, "message": "Incorrect password"})

    with pytest.raises(UpstreamAuthFailed):
        refresher()

    # The run fails (its errors alarm fires); the log says why and never shows the password.
    assert stored(aws) == CREDENTIALS
    output = printed()
    assert "the Oliver token was not refreshed" in output and "UpstreamAuthFailed" in output
    assert PASSWORD not in output


def test_the_refresher_logs_neither_the_token_nor_the_password(aws, oliver, refresher, printed):
    aws.set_secret(json.dumps(CREDENTIALS))
    token = jwt(time.time() + 3600)
    oliver.post(SIGN_IN).respond(200, json=signed_in(token))

    refresher()
    refresher()

    output = printed()
    assert "wrote the token into the secret" in output and "needs no refresh" in output
    assert token not in output and PASSWORD not in output


# -- the functions: a shared token is used, never a sign-in of their own ---------------------------


def test_a_shared_token_serves_every_invocation_of_two_containers_without_a_sign_in(
    invoke, oliver, aws
):
    token = jwt(time.time() + 3600)
    aws.set_secret(shared(token, time.time() + 3600))
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(jwt(time.time() + 3600)))
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    from booking import container

    for slot in ("a1", "a2", "a3", "a4"):
        assert book(invoke, slot).status == 201
    container.reset()  # a second container, its own secret cache and credentials
    for slot in ("b1", "b2", "b3", "b4"):
        assert book(invoke, slot).status == 201

    assert sign_in.call_count == 0
    assert [bearer(create, i) for i in range(8)] == [f"Bearer {token}"] * 8
    lookups = oliver.routes["clients"]
    assert [bearer(lookups, i) for i in range(8)] == [f"Bearer {token}"] * 8


def test_an_expired_shared_token_is_replaced_by_a_sign_in_of_the_containers_own(
    invoke, oliver, aws
):
    # The refresher has not run for a while: the token is within the renewal minute.
    aws.set_secret(shared(jwt(time.time() + 3600), time.time() + 30))
    own = jwt(time.time() + 3600)
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(own))
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    before = stored(aws)

    assert book(invoke, "s1").status == 201
    assert book(invoke, "s2").status == 201

    assert sign_in.call_count == 1
    assert [bearer(create, 0), bearer(create, 1)] == [f"Bearer {own}"] * 2
    assert stored(aws) == before  # no 401, so nothing to share: the refresher's job


# -- after a 401 ----------------------------------------------------------------------------------


def test_a_401_with_a_rotated_token_in_the_secret_retries_with_it_and_does_not_sign_in(
    invoke, oliver, aws
):
    old, rotated = jwt(time.time() + 3600), jwt(time.time() + 3600)
    aws.set_secret(shared(old, time.time() + 3600))
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(jwt(time.time() + 3600)))

    def refuse_the_old_token(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == f"Bearer {old}":
            # The refresher signed in meanwhile (revoking the old token) and wrote its token.
            aws.set_secret(shared(rotated, time.time() + 3600))
            return httpx.Response(401, json=REFUSED)
        return httpx.Response(200, json=created())

    create = oliver.post(f"{API}/appointments").mock(side_effect=refuse_the_old_token)

    assert book(invoke, "r1").status == 201
    assert book(invoke, "r2").status == 201

    assert sign_in.call_count == 0
    assert [bearer(create, i) for i in range(3)] == [
        f"Bearer {old}",
        f"Bearer {rotated}",
        f"Bearer {rotated}",
    ]
    assert stored(aws)["token"] == rotated


def test_a_401_with_the_same_token_signs_in_once_and_shares_the_new_token(invoke, oliver, aws):
    revoked = jwt(time.time() + 3600)
    aws.set_secret(shared(revoked, time.time() + 3600))
    exp = int(time.time()) + 3600
    own = jwt(exp)
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(own))

    def refuse_the_revoked_token(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == f"Bearer {revoked}":
            return httpx.Response(401, json=REFUSED)
        return httpx.Response(200, json=created())

    create = oliver.post(f"{API}/appointments").mock(side_effect=refuse_the_revoked_token)
    from booking import container

    assert book(invoke, "w1").status == 201
    # The container signed in once and wrote its token back: same credentials, new token.
    assert sign_in.call_count == 1
    assert stored(aws) == {**CREDENTIALS, "token": own, "token_expires_at": exp}

    # The same container keeps its token although its cached secret still shows the revoked one;
    # a new container takes the token from the secret: neither signs in again.
    assert book(invoke, "w2").status == 201
    container.reset()
    assert book(invoke, "w3").status == 201

    assert sign_in.call_count == 1
    assert [bearer(create, i) for i in range(4)] == [
        f"Bearer {revoked}",
        f"Bearer {own}",
        f"Bearer {own}",
        f"Bearer {own}",
    ]


def test_a_second_401_is_502_upstream_auth_failed_after_one_sign_in(invoke, oliver, aws, printed):
    aws.set_secret(shared(jwt(time.time() + 3600), time.time() + 3600))
    own = jwt(time.time() + 3600)
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(own))
    create = oliver.post(f"{API}/appointments").respond(401, json=REFUSED)

    answer = book(invoke, "x1")

    assert answer.status == 502
    assert answer.json()["code"] == "upstream_auth_failed"
    assert sign_in.call_count == 1
    assert create.call_count == 2
    output = printed()
    assert "shared the new token" in output
    assert own not in output and PASSWORD not in output and own not in answer.body


def test_a_refused_write_back_still_books_and_is_not_tried_again(invoke, oliver, aws, printed):
    """SharedSignIn off: the role may not write the secret. The container keeps its token."""
    from botocore.exceptions import ClientError

    aws.set_secret(shared(jwt(time.time() + 3600), time.time() + 3600))
    sign_in = oliver.post(SIGN_IN).mock(
        side_effect=lambda _: httpx.Response(200, json=signed_in(jwt(time.time() + 3600)))
    )
    oliver.post(f"{API}/appointments").mock(
        side_effect=[httpx.Response(401, json=REFUSED), httpx.Response(200, json=created())] * 2
    )
    from booking import container

    writes: list[str] = []

    def denied(params: dict[str, Any], **_: Any) -> None:
        writes.append(params["SecretId"])
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}
        raise ClientError(error, "PutSecretValue")

    # The container's own Secrets Manager client answers PutSecretValue as a role without it.
    events = container.aws_client("secretsmanager").meta.events
    hook = "before-parameter-build.secrets-manager.PutSecretValue"
    events.register(hook, denied)
    try:
        assert book(invoke, "d1").status == 201
        assert book(invoke, "d2").status == 201
    finally:
        events.unregister(hook, denied)

    assert sign_in.call_count == 2
    assert writes == [aws.secret_arn]  # denied once: never tried again in this container
    assert "could not share the token" in printed()


# -- against the sandbox: a sign-in revokes every earlier token -----------------------------------


@pytest.fixture
def revoking_sandbox() -> Iterator[Any]:
    from local.oliver_sandbox import SandboxServer

    if "revoke_on_sign_in" not in inspect.signature(SandboxServer).parameters:
        pytest.skip("the Oliver sandbox has no revoke_on_sign_in switch")
    server = SandboxServer(port=0, revoke_on_sign_in=True).start()
    yield server
    server.stop()


def _a_container(secret_id: str, api_url: str, *, shares: bool = True) -> Callable[[], Any]:
    """A container of its own, wired as ``booking.container.credentials()`` wires one: its own
    secret cache, credentials and connection pool (``shares``: it may write the secret). Calls
    one read through the gateway."""
    from booking.budget import Budget
    from booking.credentials import CredentialProvider
    from booking.oliver import OliverClient, OliverGateway
    from booking.secret_store import SecretStore

    secretsmanager = client("secretsmanager")
    store = SecretStore(secretsmanager, 300)
    oliver = OliverClient(api_url, OliverClient.build_http_client(api_url))
    provider = CredentialProvider(
        read_secret=lambda fresh: store.read(secret_id, "OLIVER_SECRET_ID", fresh),
        sign_in=oliver.sign_in,
        location_override=None,
        write_secret=(
            (lambda value: secretsmanager.put_secret_value(SecretId=secret_id, SecretString=value))
            if shares
            else None
        ),
    )

    def call() -> Any:
        gateway = OliverGateway(oliver, provider, "req-1", Budget(10))
        return gateway.find_clients({"email": "nobody@example.invalid"})

    return call


def _sign_ins(sandbox: Any) -> int:
    return sum(1 for r in sandbox.requests if r["path"].endswith("/auth/sign-in"))


def _refusals(sandbox: Any) -> int:
    return sum(1 for r in sandbox.requests if r["status"] == 401)


def test_without_a_shared_token_two_containers_revoke_each_other_at_every_turn(
    aws, revoking_sandbox
):
    """What shared sign-in prevents: each container signs in for itself (no refresher, no
    write-back), and each sign-in revokes the other's token."""
    from local.oliver_sandbox import seed

    sandbox = revoking_sandbox
    aws.set_secret(
        json.dumps(
            {"username": seed.USERNAME, "password": seed.PASSWORD, "location_id": seed.LOCATION_ID}
        )
    )
    a = _a_container(aws.secret_arn, sandbox.api_base, shares=False)
    b = _a_container(aws.secret_arn, sandbox.api_base, shares=False)

    for _ in range(10):
        assert a() == [] and b() == []

    # Two sign-ins to start, then every call after them meets a 401 and signs in again.
    assert (_sign_ins(sandbox), _refusals(sandbox)) == (20, 18)


def test_two_containers_share_one_token_when_every_sign_in_revokes_the_ones_before(
    aws, reconfigure, refresher, revoking_sandbox
):
    from local.oliver_sandbox import seed

    sandbox = revoking_sandbox
    reconfigure(OLIVER_API_URL=sandbox.api_base)
    credentials = {"username": seed.USERNAME, "password": seed.PASSWORD}
    aws.set_secret(json.dumps({**credentials, "location_id": seed.LOCATION_ID}))

    # The refresher signs in once; two warm containers take turns: nobody else signs in.
    assert refresher()["signed_in"] is True
    first = stored(aws)["token"]
    a = _a_container(aws.secret_arn, sandbox.api_base)
    b = _a_container(aws.secret_arn, sandbox.api_base)
    for _ in range(10):
        assert a() == [] and b() == []
    assert (_sign_ins(sandbox), _refusals(sandbox)) == (1, 0)

    # Someone else signs in with the practice's credentials (a go-live check, another tool):
    # the shared token is revoked. The first container to meet the 401 finds the same token in
    # the secret, signs in and writes its token back; the other finds that token and retries.
    outside = httpx.post(
        sandbox.url + "/services/user/v1/auth/sign-in",
        json={**credentials, "role": "ROLE_API"},
        timeout=10,
    )
    assert outside.status_code == 200
    assert a() == [] and b() == []
    assert (_sign_ins(sandbox), _refusals(sandbox)) == (3, 2)
    assert stored(aws)["token"] != first

    for _ in range(10):
        assert a() == [] and b() == []
    assert (_sign_ins(sandbox), _refusals(sandbox)) == (3, 2)

    # The written-back token carries its expiry: the refresher sees it current and stays out.
    assert refresher() == {
        "signed_in": False,
        "reason": "current",
        "expires_at": stored(aws)["token_expires_at"],
        "lifetime": None,
    }
    assert _sign_ins(sandbox) == 3
