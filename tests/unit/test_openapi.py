"""docs/openapi.json: exactly what local/openapi.py builds from the code now, a valid OpenAPI 3.1
document, and in step with template.yaml's routes and booking.errors' codes."""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest
from booking.models import BookingRequest
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
    routes = {
        (route.method.lower(), route.path)
        for spec in Template().functions().values()
        for route in spec.routes
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
    assert set(documented) == set(codes)
    for code, status in codes.items():
        assert documented[code] == {status}, code


def test_the_booking_schemas_are_the_models_plus_the_spam_fields(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    model = BookingRequest.model_json_schema()
    spam = {openapi.HONEYPOT_FIELD, openapi.CAPTCHA_FIELD}
    for name in ("BookingRequest", "BookingForm"):
        properties = schemas[name]["properties"]
        assert set(properties) == set(model["properties"]) | spam
        for field, schema in model["properties"].items():
            assert properties[field] == schema, field
        assert schemas[name]["required"] == model["required"]
    assert schemas["BookingRequest"]["additionalProperties"] is False
    assert schemas["BookingForm"]["additionalProperties"] is True


def test_the_booking_example_is_a_valid_booking(document: dict[str, Any]) -> None:
    content = document["paths"]["/bookings"]["post"]["requestBody"]["content"]
    booking = BookingRequest.model_validate(content["application/json"]["example"])
    assert booking.identification_errors() == []
