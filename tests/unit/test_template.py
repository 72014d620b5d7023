"""The deployment (template.yaml), the API Gateway events in events/ and the event schemas in
docs/schemas: lint-clean, transformable without AWS, least privilege, and wired to the contract."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
SCHEMAS = ROOT / "docs" / "schemas"

ROUTES = {"POST /bookings", "GET /open-times", "GET /health", "POST /webhooks/{source}"}
LOGICAL_IDS = {
    "HttpApi",
    "BookingLayer",
    "ApiFunction",
    "ReplayFunction",
    "EventBus",
    "IdempotencyTable",
    "EventDeadLetterQueue",
}
OUTPUTS = {
    "ApiUrl",
    "EventBusName",
    "EventBusArn",
    "EventDeadLetterQueueUrl",
    "IdempotencyTableName",
    "ReplayFunctionName",
}
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
    **POWERTOOLS_ENV,
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
}
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
    assert template["Outputs"]["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
    }


# ----------------------------------------------------------------------------------------------
# Least privilege (after the transform, on the roles SAM generates)


def test_no_role_grants_every_action_or_every_resource(transformed: dict[str, Any]) -> None:
    roles = _resources(transformed, "AWS::IAM::Role")
    assert set(roles) == {"ApiFunctionRole", "ReplayFunctionRole"}
    for name, role in roles.items():
        for _, statement in _statements(role):
            for action in _as_list(statement["Action"]):
                # `sqs:SendMessage*` (SendMessage and SendMessageBatch) is as narrow as SAM's
                # SQSSendMessagePolicy gets; a whole service or everything is never granted.
                assert action != "*" and not action.endswith(":*"), (name, action)
            for resource in _as_list(statement["Resource"]):
                assert isinstance(resource, dict), (name, resource)
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
        },
        "events:PutEvents": {(None, "EventBus")},
        "sqs:SendMessage*": {(None, "EventDeadLetterQueue")},
        **{action: {(None, "IdempotencyTable")} for action in ITEM_ACTIONS},
    }


def test_idempotency_table_is_only_read_and_written_item_by_item(
    transformed: dict[str, Any],
) -> None:
    for function in ("ApiFunction", "ReplayFunction"):
        dynamodb = {a for a in _grants(transformed, function) if a.startswith("dynamodb:")}
        assert dynamodb == (ITEM_ACTIONS if function == "ApiFunction" else set())


def test_secrets_are_read_only_from_the_secret_arns_given_as_parameters(
    transformed: dict[str, Any],
) -> None:
    for _, statement in _statements(_role_of(transformed, "ApiFunction")):
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


def test_api_has_exactly_the_four_routes_all_served_by_the_api_function(
    template: dict[str, Any],
) -> None:
    assert _template_routes(template) == dict.fromkeys(ROUTES, "ApiFunction")


def test_deployed_api_has_no_route_beyond_the_four(transformed: dict[str, Any]) -> None:
    body = transformed["Resources"]["HttpApi"]["Properties"]["Body"]
    deployed = {f"{m.upper()} {path}" for path, ops in body["paths"].items() for m in ops}
    assert deployed == ROUTES


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
    assert set(functions) == {"ApiFunction", "ReplayFunction"}
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Handler"] == "app.lambda_handler"
        (layer,) = props["Layers"]
        assert transformed["Resources"][layer["Ref"]]["Type"] == "AWS::Lambda::LayerVersion"


def test_layer_is_built_for_python_313_on_arm64(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    layer = template["Resources"]["BookingLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/booking"
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
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
    assert "Default" not in parameters["OliverSecretArn"]
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
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
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
    [("ApiFunction", "Errors"), ("ApiFunction", "Throttles"), ("ReplayFunction", "Errors")],
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
    assert keys == set(_template_routes(template))


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
