"""The API emulation on its own: a stand-in template and handler, served on 127.0.0.1.

Given a tiny template (routes, timeout, layer, environment with intrinsic functions) and a handler
that echoes what it receives, each test checks one thing API Gateway (HTTP API, payload 2.0) and
the Lambda runtime would do.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local import aws
from local.api_gateway import LocalApi, Request, build_event, response_from_result
from local.template import DEFAULT_TEMPLATE, LocalSettings, Route, Template

STAND_IN_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  OliverSecretArn: {Type: String}
  OliverApiUrl: {Type: String, Default: "https://partner.example.invalid/v1"}
  AllowedOrigins: {Type: String, Default: ""}
  AllowedRedirects: {Type: String, Default: ""}
  CaptchaSecretArn: {Type: String, Default: ""}
  Greeting: {Type: String, Default: hello}
Conditions:
  HasAllowedOrigins: !Not [!Equals [!Ref AllowedOrigins, ""]]
Globals:
  Function:
    Runtime: python3.13
    Timeout: 2
    MemorySize: 256
    Environment:
      Variables:
        FROM_GLOBALS: "yes"
Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration: !If
        - HasAllowedOrigins
        - AllowOrigins: !Split [",", !Ref AllowedOrigins]
          AllowMethods: [POST, GET, OPTIONS]
          AllowHeaders: [content-type, idempotency-key]
          ExposeHeaders: [retry-after]
          MaxAge: 600
        - !Ref AWS::NoValue
  StandInLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.lambda_handler
      Layers: [!Ref StandInLayer]
      Environment:
        Variables:
          OLIVER_API_URL: !Ref OliverApiUrl
          OLIVER_SECRET_ID: !Ref OliverSecretArn
          CAPTCHA_SECRET_ID: !Ref CaptchaSecretArn
          EVENT_BUS_NAME: !Ref EventBus
          IDEMPOTENCY_TABLE_NAME: !Ref IdempotencyTable
          EVENT_DLQ_URL: !Ref EventDeadLetterQueue
          ALLOWED_ORIGINS: !Ref AllowedOrigins
          ALLOWED_REDIRECTS: !Ref AllowedRedirects
          GREETING: !Sub "${Greeting} from ${AWS::Region}"
          BUS_ARN: !GetAtt EventBus.Arn
          ONLY_WITH_ORIGINS: !If [HasAllowedOrigins, "set", !Ref AWS::NoValue]
      Events:
        Echo: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Method: POST, Path: /echo}}
        EchoGet: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Method: GET, Path: /echo}}
        Health: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Method: GET, Path: /health}}
        Webhook:
          Type: HttpApi
          Properties: {ApiId: !Ref HttpApi, Method: POST, Path: "/webhooks/{source}"}
        Respond: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Method: POST, Path: /respond}}
        Sleep: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Method: GET, Path: /sleep}}
        Boom: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Method: GET, Path: /boom}}
  EventBus:
    Type: AWS::Events::EventBus
    Properties: {Name: !Ref AWS::StackName}
  IdempotencyTable:
    Type: AWS::DynamoDB::Table
  EventDeadLetterQueue:
    Type: AWS::SQS::Queue
"""

STAND_IN_HANDLER = """\
import json
import os
import time

from stand_in_layer import LAYER_TAG

ENV_AT_IMPORT = {"OLIVER_API_URL": os.environ.get("OLIVER_API_URL")}


def lambda_handler(event, context):
    path = event["rawPath"]
    if path == "/health":
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps({"status": "ok"})}
    if path == "/respond":
        return json.loads(event["body"])
    if path == "/sleep":
        time.sleep(float(event["queryStringParameters"]["seconds"]))
        return {"statusCode": 200, "body": "late"}
    if path == "/boom":
        raise RuntimeError("the stand-in handler failed")
    first = context.get_remaining_time_in_millis()
    time.sleep(0.05)
    second = context.get_remaining_time_in_millis()
    names = ("OLIVER_API_URL", "GREETING", "FROM_GLOBALS", "AWS_LAMBDA_FUNCTION_NAME")
    echo = {
        "event": event,
        "remaining": [first, second],
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
        },
        "env_at_import": ENV_AT_IMPORT,
        "env": {name: os.environ.get(name) for name in names},
        "layer": LAYER_TAG,
    }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "access-control-allow-origin": "*"},
        "body": json.dumps(echo),
    }
"""


def write_stand_in(directory: Path) -> Path:
    (directory / "fn").mkdir(parents=True, exist_ok=True)
    (directory / "layer").mkdir(exist_ok=True)
    (directory / "fn" / "app.py").write_text(STAND_IN_HANDLER)
    (directory / "layer" / "stand_in_layer.py").write_text('LAYER_TAG = "from the layer"\n')
    template = directory / "template.yaml"
    template.write_text(STAND_IN_TEMPLATE)
    return template


@pytest.fixture(scope="module")
def stand_in_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stand_in(tmp_path_factory.mktemp("stand-in"))


class Served:
    def __init__(self, api: LocalApi, log: io.StringIO) -> None:
        self.api = api
        self.log = log
        self.http = httpx.Client(base_url=api.url, timeout=10)

    def echo(self, method: str = "POST", path: str = "/echo", **kwargs: Any) -> dict[str, Any]:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def served(stand_in_template: Path) -> Iterator[Served]:
    log = io.StringIO()
    settings = LocalSettings(
        api_url="http://127.0.0.1:0",
        sandbox_url="http://127.0.0.1:1",
        sandbox_api_base="http://127.0.0.1:1/services/core/open_api/v1",
    )
    api = LocalApi(
        Template(stand_in_template), settings, port=0, access_log=log, function_log=io.StringIO()
    )
    api.start()
    # The API's origin is known once the port is: rebuild the settings-dependent parts.
    api.settings = LocalSettings(
        api_url=api.url,
        sandbox_url=settings.sandbox_url,
        sandbox_api_base=settings.sandbox_api_base,
    )
    api.cors = api.template.cors(api.settings)
    served = Served(api, log)
    yield served
    served.http.close()
    api.stop()


# --- Routes come from the template --------------------------------------------------------------


def test_routes_are_read_from_the_template(stand_in_template: Path) -> None:
    routes = {route.route_key for route in Template(stand_in_template).routes()}
    assert routes == {
        "POST /echo",
        "GET /echo",
        "GET /health",
        "POST /webhooks/{source}",
        "POST /respond",
        "GET /sleep",
        "GET /boom",
    }


def test_the_project_template_routes_everything_but_the_booking_page_to_the_api_function() -> None:
    # The four routes, and $default so that unknown paths and wrong methods are answered by the
    # function (404/405 with its security headers), not by API Gateway. The booking page has a
    # function of its own; locally it is reached through the same routing.
    routes = {(r.route_key, r.function_id) for r in Template(DEFAULT_TEMPLATE).routes()}
    assert routes == {
        ("POST /bookings", "ApiFunction"),
        ("GET /open-times", "ApiFunction"),
        ("GET /health", "ApiFunction"),
        ("POST /webhooks/{source}", "ApiFunction"),
        ("$default", "ApiFunction"),
        ("GET /book", "PageFunction"),
        ("POST /book", "PageFunction"),
        ("GET /book/calendar", "PageFunction"),
    }


def test_a_route_not_in_the_template_is_404_as_api_gateway_answers(served: Served) -> None:
    response = served.http.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_a_known_path_with_another_method_is_404(served: Served) -> None:
    response = served.http.delete("/echo")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_the_event_names_the_matched_route(served: Served) -> None:
    event = served.echo(path="/webhooks/partner-a", content="{}")["event"]
    assert event["routeKey"] == "POST /webhooks/{source}"
    assert event["requestContext"]["routeKey"] == "POST /webhooks/{source}"


# --- The event is a faithful payload 2.0 event ------------------------------------------------


def test_headers_are_lower_cased_and_repeated_headers_joined_with_commas(served: Served) -> None:
    headers = [("X-Custom-Header", "Value"), ("X-Repeated", "a"), ("X-Repeated", "b")]
    event = served.echo(headers=headers, content="{}")["event"]
    assert event["version"] == "2.0"
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["x-custom-header"] == "Value"
    assert event["headers"]["x-repeated"] == "a,b"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-proto"] == "http"


def test_raw_query_string_is_kept_as_sent_and_parameters_are_decoded(served: Served) -> None:
    event = served.echo("GET", "/echo?b=2&a=x%20y&b=3&empty=")["event"]
    assert event["rawPath"] == "/echo"
    assert event["rawQueryString"] == "b=2&a=x%20y&b=3&empty="
    assert event["queryStringParameters"] == {"b": "2,3", "a": "x y", "empty": ""}


def test_no_query_string_means_no_query_parameters(served: Served) -> None:
    event = served.echo("GET", "/echo")["event"]
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "body" not in event
    assert event["isBase64Encoded"] is False


def test_cookies_move_from_the_headers_to_the_cookies_field(served: Served) -> None:
    event = served.echo(headers={"Cookie": "session=abc; theme=dark"}, content="{}")["event"]
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert "cookie" not in event["headers"]


def test_path_parameters_are_filled_from_the_route_template(served: Served) -> None:
    event = served.echo(path="/webhooks/partner%20b", content="{}")["event"]
    assert event["pathParameters"] == {"source": "partner b"}
    assert event["rawPath"] == "/webhooks/partner%20b"


def test_a_json_body_is_passed_as_text(served: Served) -> None:
    body = json.dumps({"slot_id": "s-1", "name": "Zoë"})
    event = served.echo(content=body.encode(), headers={"Content-Type": "application/json"})
    assert event["event"]["isBase64Encoded"] is False
    assert event["event"]["body"] == body


@pytest.mark.parametrize(
    "content_type",
    ["application/octet-stream", "application/x-www-form-urlencoded", "multipart/form-data; b=x"],
)
def test_a_binary_or_form_body_is_base64_encoded(served: Served, content_type: str) -> None:
    raw = b"slot_id=s-1&note=\xff\x00 caf\xc3\xa9"
    event = served.echo(content=raw, headers={"Content-Type": content_type})["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_request_context_carries_request_id_time_and_source_ip(served: Served) -> None:
    before = int(time.time() * 1000)
    response = served.http.post("/echo", content="{}", headers={"User-Agent": "tests/1.0"})
    context = response.json()["event"]["requestContext"]
    assert context["requestId"] == response.headers["apigw-requestid"]
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["requestId"])
    assert before - 1000 <= context["timeEpoch"] <= int(time.time() * 1000)
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert context["http"] == {
        "method": "POST",
        "path": "/echo",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests/1.0",
    }
    assert context["stage"] == "$default"
    assert context["accountId"] == aws.ACCOUNT_ID
    assert context["domainName"] == "127.0.0.1"


def test_each_request_gets_its_own_request_id(served: Served) -> None:
    ids = {served.echo(content="{}")["event"]["requestContext"]["requestId"] for _ in range(3)}
    assert len(ids) == 3


def test_the_event_builder_omits_what_the_request_lacks() -> None:
    request = Request("GET", "/health", "", [("Host", "api.example.com")])
    route = Route("GET", "/health", "ApiFunction")
    event = build_event(request, route, {}, request_id="abc=", epoch_ms=1_583_348_638_390)
    assert event["requestContext"]["time"] == "04/Mar/2020:19:03:58 +0000"
    assert event["requestContext"]["domainPrefix"] == "api"
    for absent in ("cookies", "queryStringParameters", "pathParameters", "body"):
        assert absent not in event


# --- The Lambda context and environment --------------------------------------------------------


def test_the_context_remaining_time_counts_down_from_the_template_timeout(served: Served) -> None:
    first, second = served.echo(content="{}")["remaining"]
    assert 1500 < first <= 2000  # Globals.Function.Timeout is 2 seconds
    assert second <= first - 40


def test_the_context_describes_the_function(served: Served) -> None:
    context = served.echo(content="{}")["context"]
    assert context["function_name"] == "booking-webhook-local-ApiFunction"
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"].endswith(":function:booking-webhook-local-ApiFunction")
    uuid.UUID(context["aws_request_id"])


def test_the_environment_is_set_before_the_handler_is_imported(served: Served) -> None:
    echo = served.echo(content="{}")
    assert echo["env_at_import"]["OLIVER_API_URL"] == "http://127.0.0.1:1/services/core/open_api/v1"
    assert echo["env"]["GREETING"] == "hello from us-east-1"
    assert echo["env"]["FROM_GLOBALS"] == "yes"
    assert echo["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "booking-webhook-local-ApiFunction"
    assert echo["layer"] == "from the layer"


def test_environment_resolves_refs_for_the_local_stack(stand_in_template: Path) -> None:
    settings = LocalSettings(
        api_url="http://127.0.0.1:3000",
        sandbox_url="http://127.0.0.1:3001",
        sandbox_api_base="http://127.0.0.1:3001/services/core/open_api/v1",
        aws_url="http://127.0.0.1:4566",
    )
    env = Template(stand_in_template).environment("ApiFunction", settings)
    assert env["OLIVER_API_URL"] == "http://127.0.0.1:3001/services/core/open_api/v1"
    assert env["OLIVER_SECRET_ID"] == aws.OLIVER_SECRET_NAME
    assert env["CAPTCHA_SECRET_ID"] == aws.CAPTCHA_SECRET_NAME
    assert env["EVENT_BUS_NAME"] == aws.EVENT_BUS_NAME
    assert env["IDEMPOTENCY_TABLE_NAME"] == aws.IDEMPOTENCY_TABLE_NAME
    assert env["EVENT_DLQ_URL"] == f"http://127.0.0.1:4566/{aws.ACCOUNT_ID}/{aws.DLQ_NAME}"
    assert env["ALLOWED_ORIGINS"] == "http://127.0.0.1:3000,http://localhost:3000"
    assert env["ALLOWED_REDIRECTS"] == "http://127.0.0.1:3000/,http://localhost:3000/"
    assert env["CAPTCHA_VERIFY_URL"] == "http://127.0.0.1:3001/turnstile/v0/siteverify"
    assert env["BUS_ARN"].endswith(f":event-bus/{aws.EVENT_BUS_NAME}")
    assert env["ONLY_WITH_ORIGINS"] == "set"


def test_parameter_overrides_win_and_no_value_drops_the_variable(stand_in_template: Path) -> None:
    settings = LocalSettings(parameter_overrides={"AllowedOrigins": "", "Greeting": "hi"})
    env = Template(stand_in_template).environment("ApiFunction", settings)
    assert env["ALLOWED_ORIGINS"] == ""
    assert env["GREETING"] == "hi from us-east-1"
    assert "ONLY_WITH_ORIGINS" not in env


def test_the_project_template_resolves_every_function_variable_locally() -> None:
    env = Template(DEFAULT_TEMPLATE).environment("ApiFunction", LocalSettings())
    assert env["OLIVER_SECRET_ID"] == "booking-webhook/oliver"
    assert env["CAPTCHA_SECRET_ID"] == "booking-webhook/turnstile"
    assert env["EVENT_BUS_NAME"] == "booking-webhook-local"
    assert env["IDEMPOTENCY_TABLE_NAME"] == "booking-webhook-idempotency-local"
    assert env["EVENT_DLQ_URL"].endswith("/booking-webhook-event-dlq-local")
    assert env["OLIVER_API_URL"] == "http://127.0.0.1:3001/services/core/open_api/v1"


# --- What the handler returns, and what API Gateway makes of failures --------------------------


def test_the_result_becomes_status_headers_cookies_and_body(served: Served) -> None:
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Thing": "1"},
        "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        "body": '{"ok":true}',
    }
    response = served.http.post("/respond", json=result)
    assert response.status_code == 201
    assert response.headers["x-thing"] == "1"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert response.json() == {"ok": True}


def test_a_base64_result_body_is_decoded(served: Served) -> None:
    raw = bytes(range(256))
    result = {
        "statusCode": 200,
        "headers": {"content-type": "application/octet-stream"},
        "isBase64Encoded": True,
        "body": base64.b64encode(raw).decode(),
    }
    assert served.http.post("/respond", json=result).content == raw


def test_a_result_without_status_code_is_a_200_json_body(served: Served) -> None:
    response = served.http.post("/respond", json={"hello": "world"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"hello": "world"}


def test_a_malformed_result_is_a_500(served: Served) -> None:
    response = served.http.post("/respond", json={"statusCode": "two hundred"})
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_a_handler_exception_is_a_500_without_details(served: Served) -> None:
    response = served.http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_a_handler_past_its_timeout_is_a_500(served: Served) -> None:
    started = time.monotonic()
    response = served.http.get("/sleep?seconds=3")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert 1.9 < time.monotonic() - started < 2.9


def test_result_conversion_joins_nothing_and_keeps_header_case() -> None:
    response = response_from_result({"statusCode": 204, "headers": {"Retry-After": "3"}})
    assert response.status == 204
    assert response.headers == [("Retry-After", "3")]
    assert response.body == b""


# --- CORS, as configured in the template -------------------------------------------------------


def test_a_preflight_from_the_local_origin_is_answered_by_the_gateway(served: Served) -> None:
    origin = served.api.url
    response = served.http.options(
        "/bookings-or-anything",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-methods"] == "POST,GET,OPTIONS"
    assert response.headers["access-control-allow-headers"] == "content-type,idempotency-key"
    assert response.headers["access-control-max-age"] == "600"


def test_a_preflight_from_another_origin_gets_no_cors_headers(served: Served) -> None:
    response = served.http.options(
        "/echo",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_on_responses_come_from_the_configuration(served: Served) -> None:
    origin = served.api.url.replace("127.0.0.1", "localhost")
    response = served.http.post("/echo", content="{}", headers={"Origin": origin})
    assert response.headers["access-control-allow-origin"] == origin  # not the handler's "*"
    assert response.headers["access-control-expose-headers"] == "retry-after"
    other = served.http.post("/echo", content="{}", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


# --- Access log --------------------------------------------------------------------------------


def test_one_access_log_line_per_request_without_body_headers_or_query(served: Served) -> None:
    served.log.truncate(0)
    served.log.seek(0)
    served.http.post(
        "/echo?email=secret%40example.com",
        content='{"email": "jane@example.com"}',
        headers={"X-Secret": "header-value"},
    )
    served.http.get("/missing")
    lines = served.log.getvalue().splitlines()
    assert len(lines) == 2
    assert re.search(r'"POST /echo HTTP/1.1" 200 \d+B \d+\.\dms$', lines[0])
    assert re.search(r'"GET /missing HTTP/1.1" 404 ', lines[1])
    assert "example.com" not in served.log.getvalue()
    assert "header-value" not in served.log.getvalue()


# --- The demo page -----------------------------------------------------------------------------


def test_paths_that_are_not_routes_go_to_the_page_which_can_call_the_api(
    stand_in_template: Path,
) -> None:
    calls: list[tuple[int, bytes]] = []

    def pages(method: str, path: str, query: str, call_api: Any) -> Any:
        if path != "/":
            return None
        status, _headers, body = call_api("GET", "/health", "", {}, None)
        calls.append((status, body))
        return 200, {"Content-Type": "text/html"}, b"<h1>demo</h1>"

    with LocalApi(Template(stand_in_template), port=0, pages=pages) as api:
        page = httpx.get(f"{api.url}/")
        missing = httpx.get(f"{api.url}/nothing-here")
    assert page.status_code == 200
    assert page.text == "<h1>demo</h1>"
    assert calls == [(200, b'{"status": "ok"}')]
    assert missing.status_code == 404


def test_a_busy_port_fails_at_start(stand_in_template: Path) -> None:
    with LocalApi(Template(stand_in_template), port=0, pages=None) as first:
        second = LocalApi(Template(stand_in_template), port=first.port, pages=None)
        with pytest.raises(OSError):
            second.start()
