"""The OpenAPI document is valid, covers every API route, and the live app honours it under fuzzing."""
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

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


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_openapi_book_operations_take_if_unmodified_since(client, method):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/v1/books/{book_id}"][method]

    assert "If-Unmodified-Since" in [parameter["name"] for parameter in operation["parameters"]]
    assert "412" in operation["responses"]


def isbn_spellings():
    """Valid ISBN-10s and ISBN-13s, bare or hyphenated, so fuzzed books get past the check digit."""
    isbn10 = st.from_regex(r"\A[0-9]{9}\Z").map(lambda first9: first9 + isbn10_check_digit(first9))
    isbn13 = st.from_regex(r"\A97[89][0-9]{9}\Z").map(lambda first12: first12 + isbn13_check_digit(first12))
    return st.one_of(isbn10, isbn13, isbn13.map(lambda isbn: f"{isbn[:3]}-{isbn[3:12]}-{isbn[12]}"))


schemathesis.openapi.format("isbn", isbn_spellings())


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


fuzzed = schemathesis.pytest.from_fixture("api_schema")


@fuzzed.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much,
])
def test_api_honours_its_openapi_document(case):
    # A schema cannot say "unused ISBN" or "page * size within the offset limit", so a schema-valid request
    # may rightly get a 400 or 422; every other check applies.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


def test_openapi_listed_books_may_be_sparse(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]

    assert schemas["BookPage"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/ListedBook"}
    assert "required" not in schemas["ListedBook"]


@pytest.mark.parametrize("path", ["/api/v1/books", "/api/v1/books/bulk"])
def test_openapi_creating_operations_take_an_idempotency_key(client, path):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"][path]["post"]

    (key,) = [parameter for parameter in operation["parameters"] if parameter["name"] == "Idempotency-Key"]
    assert key["in"] == "header"
    assert key["schema"]["maxLength"] == 255
    success = next(response for code, response in operation["responses"].items() if code.startswith("2"))
    assert "Idempotent-Replayed" in success["headers"]
    for code in ("409", "422"):
        answer = spec["components"]["responses"][operation["responses"][code]["$ref"].rsplit("/", 1)[1]]
        assert "Idempotency-Key" in answer["description"]


def test_openapi_registration_takes_no_idempotency_key(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/v1/auth/register"]["post"]

    assert "Idempotency-Key" not in [parameter["name"] for parameter in operation["parameters"]]
