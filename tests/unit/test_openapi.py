"""docs/openapi.json: exactly what local/openapi.py builds from the code now, a valid OpenAPI 3.1
document, and in step with template.yaml's routes and booking.errors' codes."""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest
from booking.models import PARTNER_ONLY_FIELDS, BookingRequest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from local import openapi
from local.template import Template


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(openapi.OUTPUT.read_text(encoding="utf-8"))


def test_the_committed_document_is_what_the_code_builds_now() -> None:
    committed = openapi.OUTPUT.read_text(encoding="utf-8")
    built = openapi.render()
    if committed != built:
        diff = difflib.unified_diff(
            committed.splitlines(), built.splitlines(), "committed", "built now", lineterm="", n=1
        )
        pytest.fail(
            "docs/openapi.json is stale: run `make openapi` and commit it.\n"
            + "\n".join(list(diff)[:60])
        )


def test_it_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_it_has_exactly_the_routes_of_the_template(document: dict[str, Any]) -> None:
    # `$default` only answers what no route takes (404 / 405, see the next test).
    routes = {
        (route.method.lower(), route.path)
        for spec in Template().functions().values()
        for route in spec.routes
        if route.path != "$default"
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == routes


def test_every_error_code_of_the_service_is_documented(document: dict[str, Any]) -> None:
    documented: dict[str, set[int]] = {}
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                for part in (schema or {}).get("allOf", []):
                    for code in part.get("properties", {}).get("code", {}).get("enum", []):
                        documented.setdefault(code, set()).add(int(status))
    codes = openapi.error_codes()
    # Answers of no operation (an unknown path, another method) are described for the whole API.
    anywhere = {"not_found": 404, "method_not_allowed": 405}
    for code, status in anywhere.items():
        assert f"{status} `{code}`" in document["info"]["description"]
    assert set(documented) == set(codes) - set(anywhere)
    for code, status in codes.items():
        if code not in anywhere:
            assert documented[code] == {status}, code


@pytest.mark.parametrize(
    ("prefix", "extra", "missing"),
    [
        ("Public", {openapi.HONEYPOT_FIELD, openapi.CAPTCHA_FIELD}, set(PARTNER_ONLY_FIELDS)),
        ("Partner", set(), set()),
    ],
)
def test_the_booking_schemas_are_the_model_for_each_kind_of_caller(
    document: dict[str, Any], prefix: str, extra: set[str], missing: set[str]
) -> None:
    schemas = document["components"]["schemas"]
    model = BookingRequest.model_json_schema()
    for name in (f"{prefix}BookingRequest", f"{prefix}BookingForm"):
        properties = schemas[name]["properties"]
        assert set(properties) == (set(model["properties"]) - missing) | extra
        for field, schema in model["properties"].items():
            if field not in missing:
                assert properties[field] == schema, field
        assert schemas[name].get("required") == model.get("required")
    assert schemas[f"{prefix}BookingRequest"]["additionalProperties"] is False
    assert schemas[f"{prefix}BookingForm"]["additionalProperties"] is True


def test_the_booking_example_is_a_valid_booking(document: dict[str, Any]) -> None:
    content = document["paths"]["/bookings"]["post"]["requestBody"]["content"]
    booking = BookingRequest.model_validate(content["application/json"]["example"])
    assert booking.identification_errors() == []


def test_the_committed_event_schemas_are_what_the_event_models_build_now() -> None:
    built = openapi.event_schemas()
    assert {path.name for path in built} == {
        path.name for path in openapi.SCHEMAS.glob("*.schema.json")
    }
    for path, text in built.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run `make openapi` and commit it"
        )
