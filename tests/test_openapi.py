"""The OpenAPI document is valid, covers every API route, and the live app honours it under fuzzing."""
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bookapi.books.schemas import book_update_schema
from bookapi.isbn import isbn10_check_digit, isbn13_check_digit
from bookapi.openapi import PATH_PARAMETER

UNDOCUMENTED_ENDPOINTS = {"static", "flasgger.static", "flasgger.apidocs", "flasgger.oauth_redirect",
                          "flasgger.openapi", "flasgger.<lambda>", "docs.redoc", "docs.redoc_asset"}


def test_openapi_document_is_valid(client):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_openapi_documents_every_route(app, client):
    paths = client.get("/openapi.json").get_json()["paths"]
    documented = {(path, method.upper()) for path, operations in paths.items() for method in operations}

    routes = {
        (PATH_PARAMETER.sub(r"{\2}", rule.rule), method)
        for rule in app.url_map.iter_rules() if rule.endpoint not in UNDOCUMENTED_ENDPOINTS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    assert routes == documented


def test_openapi_request_schema_is_the_validating_schema(client):
    book = client.get("/openapi.json").get_json()["components"]["schemas"]["Book"]

    assert book["required"] == ["author", "isbn", "published_date", "title"]
    assert book["properties"]["title"]["maxLength"] == 255
    assert book["properties"]["id"]["readOnly"] is True


@pytest.mark.parametrize("field", ["title", "author", "description"])
def test_openapi_text_pattern_refuses_what_validation_refuses(client, field):
    pattern = client.get("/openapi.json").get_json()["components"]["schemas"]["Book"]["properties"][field]["pattern"]

    for code_point in range(0xA1):
        text = f"a{chr(code_point)}b"
        accepted = field not in book_update_schema.validate({field: text})
        assert accepted == bool(re.fullmatch(pattern, text)), f"U+{code_point:04X}"


def isbn_spellings():
    """Valid ISBN-10s and ISBN-13s, bare or hyphenated, so fuzzed books get past the check digit."""
    isbn10 = st.from_regex(r"\A[0-9]{9}\Z").map(lambda first9: first9 + isbn10_check_digit(first9))
    isbn13 = st.from_regex(r"\A97[89][0-9]{9}\Z").map(lambda first12: first12 + isbn13_check_digit(first12))
    return st.one_of(isbn10, isbn13, isbn13.map(lambda isbn: f"{isbn[:3]}-{isbn[3:12]}-{isbn[12]}"))


schemathesis.openapi.format("isbn", isbn_spellings())


@pytest.fixture
def api_schema(app, client):
    # Invalid data may get any error the document lists; schemathesis's own list lacks 412 and 413.
    errors = list(client.get("/openapi.json").get_json()["components"]["responses"])
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": errors}}})
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)


fuzzed = schemathesis.pytest.from_fixture("api_schema")


@fuzzed.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much,
])
def test_api_honours_its_openapi_document(case):
    # A schema cannot say "unused ISBN" or "page * size within the offset limit", so a schema-valid request
    # may rightly get a 400 or 422; every other check applies.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


def test_fuzzing_takes_every_documented_client_error_as_a_rejection(api_schema):
    paths = api_schema.raw_schema["paths"]
    documented = {code for path in paths.values() for operation in path.values() for code in operation["responses"]
                  if code.startswith("4")}

    assert documented <= set(api_schema.config.checks.negative_data_rejection.expected_statuses)


def test_openapi_listed_books_may_be_sparse(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]

    assert schemas["BookPage"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/ListedBook"}
    assert "required" not in schemas["ListedBook"]
