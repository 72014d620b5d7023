"""Read template.yaml for the local stack.

The local API is built from the same template as the deployed one, so routes, handlers,
timeouts and environment variables cannot drift. Intrinsic functions are resolved for the local
stack: parameters take local overrides (sandbox URL, local secret names, local origins) or their
defaults, and resources resolve to the names the AWS emulation seeds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from local import aws

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

REGION = aws.REGION
ACCOUNT_ID = aws.ACCOUNT_ID
STACK_NAME = "booking-webhook-local"
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128
#: The sandbox's practice has no phone number of its own; this one is fictional too (555-01xx) and
#: differs from every seeded client's, so an answer showing it never looks like a client's number.
LOCAL_PRACTICE_PHONE = "+1 555-555-0199"
#: The grace period of staff follow-ups and text-backs in the local stack (900 s deployed).
LOCAL_FOLLOW_UP_DELAY_SECONDS = 10
#: A function environment override that the local stack reads as the grace period too (the
#: deployed stack's is the queue's DelaySeconds, from the FollowUpDelaySeconds parameter).
FOLLOW_UP_DELAY_VARIABLE = "FOLLOW_UP_DELAY_SECONDS"


class TemplateError(Exception):
    """The template cannot be read or uses something the local stack cannot resolve."""


_NO_VALUE = object()
"""`AWS::NoValue`: the property or list item disappears."""


# --- YAML with CloudFormation short-form tags -------------------------------------------------


# libyaml's loader when PyYAML was built with it (ten times faster on this template).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    pass


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass with tags only
    if not isinstance(data, dict):
        raise TemplateError("template is not a YAML mapping")
    return data


# --- What the template describes ----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One HTTP API route: `method` is upper case or `ANY`; `path` may be `$default`."""

    method: str
    path: str
    function_id: str

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    timeout: int
    memory_size: int
    runtime: str
    function_name: str
    environment: Mapping[str, Any]
    """Unresolved `Environment.Variables` (Globals merged with the function's own)."""
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class RuleSpec:
    name: str
    pattern: Mapping[str, Any]


@dataclass(frozen=True)
class ConsumerSpec:
    """A function fed by an SQS queue (its `AWS::Lambda::EventSourceMapping`), the queue as the
    template declares it, and the rules that put the bus's events on it; resolved locally."""

    function_id: str
    queue_id: str
    queue_name: str
    dead_letter_queue_id: str | None
    dead_letter_queue_name: str | None
    max_receive_count: int
    delay_seconds: int
    visibility_timeout: int
    batch_size: int
    rules: tuple[RuleSpec, ...]


@dataclass(frozen=True)
class CorsConfig:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass(frozen=True)
class LocalSettings:
    """Where the local stack's parts live, used to resolve the template for it."""

    api_url: str = "http://127.0.0.1:3000"
    sandbox_url: str = "http://127.0.0.1:3001"
    sandbox_api_base: str = "http://127.0.0.1:3001/services/core/open_api/v1"
    aws_url: str = "http://127.0.0.1:4566"
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    env_overrides: Mapping[str, str] = field(default_factory=dict)

    @property
    def api_origins(self) -> tuple[str, ...]:
        port = self.api_url.rsplit(":", 1)[-1].rstrip("/")
        return (f"http://127.0.0.1:{port}", f"http://localhost:{port}")

    def local_parameters(self) -> dict[str, str]:
        """Parameter values of the local stack (before the caller's own overrides)."""
        from local.oliver_sandbox import seed

        return {
            "OliverSecretArn": aws.OLIVER_SECRET_NAME,
            "CaptchaSecretArn": aws.CAPTCHA_SECRET_NAME,
            "WebhookSources": json.dumps(aws.DEMO_WEBHOOK_SOURCES),
            "WebhookSecretArn": aws.WEBHOOK_SECRET_NAME,
            "OliverApiUrl": self.sandbox_api_base,
            "AllowedOrigins": ",".join(self.api_origins),
            "AllowedRedirects": ",".join(f"{origin}/" for origin in self.api_origins),
            # The sandbox's practice: its schedule is laid out in this zone.
            "PracticeTimezone": seed.TIME_ZONE,
            "PracticeName": seed.PRACTICE_NAME,
            "PracticePhone": LOCAL_PRACTICE_PHONE,
            # Emails come from a sender the emulation's SES has verified; follow-ups wait 10 s.
            "NotifySender": aws.LOCAL_SENDER,
            "FollowUpDelaySeconds": str(LOCAL_FOLLOW_UP_DELAY_SECONDS),
        }

    def local_environment(self) -> dict[str, str]:
        """Variables set whatever the template says (the sandbox stands in for third parties),
        unless the caller overrode the parameter they come from."""
        forced = {
            "OLIVER_API_URL": ("OliverApiUrl", self.sandbox_api_base),
            "ALLOWED_ORIGINS": ("AllowedOrigins", ",".join(self.api_origins)),
            "ALLOWED_REDIRECTS": (
                "AllowedRedirects",
                ",".join(f"{origin}/" for origin in self.api_origins),
            ),
        }
        env = {
            name: value
            for name, (parameter, value) in forced.items()
            if parameter not in self.parameter_overrides
        }
        env["CAPTCHA_VERIFY_URL"] = f"{self.sandbox_url.rstrip('/')}/turnstile/v0/siteverify"
        return env


class Template:
    def __init__(self, path: Path | str = DEFAULT_TEMPLATE) -> None:
        self.path = Path(path).resolve()
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateError(f"cannot read {self.path}: {exc.strerror}") from exc
        self.data = load_yaml(text)
        self.base_dir = self.path.parent
        self.parameters: dict[str, Any] = self.data.get("Parameters") or {}
        self.conditions: dict[str, Any] = self.data.get("Conditions") or {}
        self.resources: dict[str, Any] = self.data.get("Resources") or {}
        self.globals: dict[str, Any] = self.data.get("Globals") or {}

    # -- tables

    def table(self, logical_id: str) -> dict[str, Any]:
        """CreateTable's arguments for a table as the template declares it (keys, attributes,
        indexes; billing per request), without its name."""
        props = self.resources[logical_id]["Properties"]
        table: dict[str, Any] = {
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            table["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        return table

    # -- functions and routes

    def _function_globals(self) -> dict[str, Any]:
        return dict(self.globals.get("Function") or {})

    def functions(self) -> dict[str, FunctionSpec]:
        specs: dict[str, FunctionSpec] = {}
        for logical_id, resource in self.resources.items():
            if not isinstance(resource, dict):
                continue
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            specs[logical_id] = self._function_spec(logical_id, resource.get("Properties") or {})
        return specs

    def function(self, logical_id: str) -> FunctionSpec:
        try:
            return self.functions()[logical_id]
        except KeyError:
            message = f"no AWS::Serverless::Function {logical_id!r} in template"
            raise TemplateError(message) from None

    def _function_spec(self, logical_id: str, props: Mapping[str, Any]) -> FunctionSpec:
        merged = self._function_globals()
        merged.update({k: v for k, v in props.items() if k != "Environment"})
        code_uri = merged.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local path")
        environment: dict[str, Any] = {}
        for source in (self._function_globals().get("Environment"), props.get("Environment")):
            if isinstance(source, dict):
                environment.update(source.get("Variables") or {})
        layers = tuple(self._layer_dir(layer) for layer in merged.get("Layers") or [])
        name = merged.get("FunctionName")
        return FunctionSpec(
            logical_id=logical_id,
            handler=str(merged.get("Handler") or "app.lambda_handler"),
            code_dir=(self.base_dir / code_uri).resolve(),
            layer_dirs=tuple(layer for layer in layers if layer is not None),
            timeout=int(self._plain(merged.get("Timeout", DEFAULT_TIMEOUT))),
            memory_size=int(self._plain(merged.get("MemorySize", DEFAULT_MEMORY))),
            runtime=str(merged.get("Runtime") or "python3.13"),
            function_name=name if isinstance(name, str) else f"{STACK_NAME}-{logical_id}",
            environment=environment,
            routes=self._routes_of(logical_id, props.get("Events") or {}),
        )

    def _plain(self, value: Any) -> Any:
        resolved = Resolver(self, LocalSettings()).resolve(value)
        return resolved

    def _layer_dir(self, layer: Any) -> Path | None:
        """The directory to put on sys.path for a layer of this template (None: not local)."""
        if isinstance(layer, dict) and "Ref" in layer:
            resource = self.resources.get(layer["Ref"]) or {}
            props = resource.get("Properties") or {}
            content = props.get("ContentUri") or (props.get("Content") or {}).get("S3Key")
            if isinstance(content, str):
                directory = (self.base_dir / content).resolve()
                # A layer laid out for the runtime keeps its packages under python/.
                return directory / "python" if (directory / "python").is_dir() else directory
        return None

    def _routes_of(self, logical_id: str, events: Mapping[str, Any]) -> tuple[Route, ...]:
        routes: list[Route] = []
        for event in events.values():
            if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            path = props.get("Path", "$default")
            method = str(props.get("Method", "ANY")).upper()
            if method in {"*", "X-AMAZON-APIGATEWAY-ANY-METHOD"}:
                method = "ANY"
            routes.append(Route(method=method, path=str(path), function_id=logical_id))
        return tuple(routes)

    def routes(self) -> list[Route]:
        return [route for spec in self.functions().values() for route in spec.routes]

    # -- queue consumers (the notification functions)

    def consumers(self, settings: LocalSettings) -> list[ConsumerSpec]:
        """Every function fed by a queue through an event source mapping whose condition holds
        for the local stack, with its queue, dead-letter queue and rules."""
        resolver = Resolver(self, settings)
        found: list[ConsumerSpec] = []
        for name, resource in self.resources.items():
            if not isinstance(resource, dict):
                continue
            if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
                continue
            if "Condition" in resource and not resolver.condition(resource["Condition"]):
                continue
            props = resource.get("Properties") or {}
            queue_id = _get_att_target(props.get("EventSourceArn"))
            function = props.get("FunctionName")
            if queue_id is None or not (isinstance(function, dict) and "Ref" in function):
                raise TemplateError(f"{name}: the local stack reads queues of this template only")
            found.append(self._consumer(str(function["Ref"]), queue_id, props, resolver))
        return found

    def _consumer(
        self, function_id: str, queue_id: str, mapping: Mapping[str, Any], resolver: Resolver
    ) -> ConsumerSpec:
        queue = resolver.resolve(self.resources[queue_id].get("Properties") or {})
        redrive = queue.get("RedrivePolicy") or {}
        dlq_id = _get_att_target(
            (self.resources[queue_id].get("Properties") or {})
            .get("RedrivePolicy", {})
            .get("deadLetterTargetArn")
        )
        delay = int(queue.get("DelaySeconds") or 0)
        override = resolver.settings.env_overrides.get(FOLLOW_UP_DELAY_VARIABLE)
        if delay and override is not None:
            delay = int(override)
        rules = []
        for name, resource in self.resources.items():
            if not isinstance(resource, dict) or resource.get("Type") != "AWS::Events::Rule":
                continue
            if "Condition" in resource and not resolver.condition(resource["Condition"]):
                continue
            props = resource.get("Properties") or {}
            targets = [_get_att_target(t.get("Arn")) for t in props.get("Targets") or []]
            if queue_id in targets:
                rules.append(
                    RuleSpec(f"{STACK_NAME}-{name}", resolver.resolve(props["EventPattern"]))
                )
        return ConsumerSpec(
            function_id=function_id,
            queue_id=queue_id,
            queue_name=aws.queue_name(queue_id),
            dead_letter_queue_id=dlq_id,
            dead_letter_queue_name=aws.queue_name(dlq_id) if dlq_id else None,
            max_receive_count=int(redrive.get("maxReceiveCount") or 0),
            delay_seconds=delay,
            visibility_timeout=int(queue.get("VisibilityTimeout") or 30),
            batch_size=int(resolver.resolve(mapping.get("BatchSize")) or 10),
            rules=tuple(rules),
        )

    # -- CORS of the HTTP API

    def cors(self, settings: LocalSettings) -> CorsConfig | None:
        config: Any = None
        for resource in self.resources.values():
            if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::HttpApi":
                config = (resource.get("Properties") or {}).get("CorsConfiguration")
                break
        if config is None:
            config = (self.globals.get("HttpApi") or {}).get("CorsConfiguration")
        config = Resolver(self, settings).resolve(config)
        if config is None or config is False or config is _NO_VALUE:
            return None
        if config is True:
            return CorsConfig(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
        if isinstance(config, str):
            return CorsConfig(allow_origins=(config.strip("'\""),))

        def strings(key: str) -> tuple[str, ...]:
            values = config.get(key) or []
            if isinstance(values, str):
                values = values.split(",")
            return tuple(str(v).strip() for v in values if str(v).strip())

        max_age = config.get("MaxAge")
        return CorsConfig(
            allow_origins=strings("AllowOrigins"),
            allow_methods=tuple(m.upper() for m in strings("AllowMethods")),
            allow_headers=strings("AllowHeaders"),
            expose_headers=strings("ExposeHeaders"),
            max_age=int(max_age) if max_age not in (None, "") else None,
            allow_credentials=bool(config.get("AllowCredentials", False)),
        )

    # -- environment

    def environment(self, logical_id: str, settings: LocalSettings) -> dict[str, str]:
        """The function's environment variables resolved for the local stack."""
        spec = self.function(logical_id)
        resolver = Resolver(self, settings)
        env: dict[str, str] = {}
        for name, value in spec.environment.items():
            resolved = resolver.resolve(value)
            if resolved is _NO_VALUE:
                continue
            env[name] = _to_env_string(resolved)
        env.update(settings.local_environment())
        env.update(settings.env_overrides)
        return env


def _get_att_target(value: Any) -> str | None:
    """The logical id of `!GetAtt <id>.Arn`, else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        name = target.split(".", 1)[0] if isinstance(target, str) else target[0]
        return str(name)
    return None


def _to_env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_to_env_string(v) for v in value)
    if value is None:
        return ""
    return str(value)


# --- Intrinsic functions -----------------------------------------------------------------------


_SUB_PATTERN = re.compile(r"\$\{(!?)([^}]*)\}")


class Resolver:
    """Resolves intrinsic functions the way CloudFormation would for the local stack."""

    def __init__(self, template: Template, settings: LocalSettings) -> None:
        self.template = template
        self.settings = settings
        self.parameter_values = settings.local_parameters()
        self.parameter_values.update(settings.parameter_overrides)

    def parameter(self, name: str) -> Any:
        if name in self.parameter_values:
            value: Any = self.parameter_values[name]
        else:
            declaration = self.template.parameters.get(name) or {}
            value = declaration.get("Default", "")
        declared_type = str((self.template.parameters.get(name) or {}).get("Type", "String"))
        is_list = declared_type.startswith("List<") or declared_type == "CommaDelimitedList"
        if is_list and isinstance(value, str):
            return [v.strip() for v in value.split(",")] if value else []
        return value

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.parameters:
            return self.parameter(name)
        resource = self.template.resources.get(name)
        if resource is None:
            raise TemplateError(f"Ref to unknown name {name!r}")
        return self._resource_ref(name, resource.get("Type", ""))

    def _resource_ref(self, name: str, resource_type: str) -> str:
        if resource_type == "AWS::Events::EventBus":
            return aws.EVENT_BUS_NAME
        if resource_type in {"AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"}:
            return self._seeded(name, resource_type, aws.TABLES)
        if resource_type == "AWS::SecretsManager::Secret":
            # Ref of a secret is its ARN when deployed; the secret's name reads it just the same.
            return self._seeded(name, resource_type, aws.SECRETS)
        if resource_type == "AWS::SQS::Queue":
            return aws.queue_url(self.settings.aws_url, aws.queue_name(name))
        if resource_type == "AWS::Serverless::Function":
            return self.template.function(name).function_name
        return name

    @staticmethod
    def _seeded(name: str, resource_type: str, seeded: Mapping[str, str]) -> str:
        try:
            return seeded[name]
        except KeyError:
            message = (
                f"{resource_type} {name!r}: the local AWS emulation seeds no such resource "
                f"(it seeds {', '.join(sorted(seeded))}; see local/aws.py)"
            )
            raise TemplateError(message) from None

    def get_att(self, name: str, attribute: str) -> Any:
        resource = self.template.resources.get(name)
        if resource is None:
            raise TemplateError(f"GetAtt of unknown resource {name!r}")
        resource_type = resource.get("Type", "")
        physical = self._resource_ref(name, resource_type)
        prefix = f"arn:aws:{{service}}:{REGION}:{ACCOUNT_ID}"
        if resource_type == "AWS::Events::EventBus":
            values = {
                "Arn": prefix.format(service="events") + f":event-bus/{physical}",
                "Name": physical,
            }
        elif resource_type in {"AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"}:
            values = {"Arn": prefix.format(service="dynamodb") + f":table/{physical}"}
        elif resource_type == "AWS::SecretsManager::Secret":
            values = {"Id": physical}
        elif resource_type == "AWS::SQS::Queue":
            values = {
                "Arn": prefix.format(service="sqs") + f":{aws.queue_name(name)}",
                "QueueName": aws.queue_name(name),
                "QueueUrl": physical,
            }
        elif resource_type == "AWS::Serverless::Function":
            values = {"Arn": prefix.format(service="lambda") + f":function:{physical}"}
        else:
            values = {}
        return values.get(attribute, f"{prefix.format(service='local')}:{name}/{attribute}")

    def condition(self, name: str) -> bool:
        try:
            return bool(self.resolve(self.template.conditions[name]))
        except KeyError:
            raise TemplateError(f"unknown condition {name!r}") from None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::GetAtt":
                name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(str(name), str(self.resolve(attribute)))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self.condition(condition) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Fn::Join":
                delimiter, items = arg
                return str(delimiter).join(_to_env_string(v) for v in self.resolve(items))
            if key == "Fn::Split":
                delimiter, source = arg
                return str(self.resolve(source)).split(str(delimiter))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::FindInMap":
                map_name, first, second = (self.resolve(v) for v in arg)
                return self.template.data["Mappings"][map_name][first][second]
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg), separators=(",", ":"))
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local stack")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            literal, name = match.group(1), match.group(2).strip()
            if literal:
                return "${" + name + "}"
            if name in variables:
                return _to_env_string(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return _to_env_string(self.get_att(resource, attribute))
            return _to_env_string(self.ref(name))

        return _SUB_PATTERN.sub(replace, str(text))
