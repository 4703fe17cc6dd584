"""The OpenAPI document is valid, covers every API route, and the live app honours it under fuzzing."""
import re
from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import delete, func, select, update

from bookapi.accounts.models import RefreshToken, RevokedAccessToken, User
from bookapi.authors.models import Author
from bookapi.books.models import Book, SearchWord, book_authors, book_categories
from bookapi.books.schemas import book_update_schema
from bookapi.categories.models import Category
from bookapi.extensions import db
from bookapi.isbn import isbn10_check_digit, isbn13_check_digit
from bookapi.openapi import PATH_PARAMETER
from tests.conftest import bearer
from tests.factories import PASSWORD_HASH, UserFactory

UNDOCUMENTED_ENDPOINTS = {"static", "flasgger.static", "flasgger.apidocs", "flasgger.oauth_redirect",
                          "flasgger.openapi", "flasgger.<lambda>", "docs.redoc", "docs.redoc_asset"}
ADMIN_EMAIL = "fuzzing-admin@example.com"
FUZZED_CATALOGUE = [
    {"title": "Dune", "author": "Frank Herbert", "isbn": "0441172717", "published_date": date(1965, 8, 1),
     "description": "Spice.\nAnd sand."},
    {"title": "The Hobbit", "author": "J. R. R. Tolkien", "isbn": "9780261102217",
     "published_date": date(1937, 9, 21), "description": None},
    {"title": "Dune Messiah", "author": "Frank Herbert", "isbn": "9780306406157", "published_date": date(1969, 10, 15),
     "description": "The sequel."},
]


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

    assert book["required"] == ["isbn", "published_date", "title"]
    assert book["properties"]["title"]["maxLength"] == 255
    assert book["properties"]["id"]["readOnly"] is True


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_openapi_book_operations_take_if_unmodified_since(client, method):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/v1/books/{book_id}"][method]

    assert "If-Unmodified-Since" in [parameter["name"] for parameter in operation["parameters"]]
    assert "412" in operation["responses"]


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
    errors = [code for code in client.get("/openapi.json").get_json()["components"]["responses"] if code.isdigit()]
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": errors}}})
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)


class FixedCatalogue:
    """What every fuzzed case finds: three books, ids 1 to 3, their search words, an author of two of them and a
    category of one (ids 1), and one admin who sends it.

    So a case's answer depends on the case alone, whatever ran before it, and a run with a fixed seed is
    repeatable. Restoring takes a few statements and a commit, so it is done only after a case whose method can
    write: reads change nothing.
    """

    WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

    def __init__(self, admin):
        self.admin = admin
        self.changed = True

    def restore_before(self, case):
        if self.changed:
            db.session.rollback()
            db.session.execute(delete(Book))
            db.session.execute(delete(SearchWord))
            db.session.execute(delete(Author))
            db.session.execute(delete(Category))
            # Fuzzed account changes (a registration, a role, a deactivation) are undone too.
            db.session.execute(delete(RefreshToken))
            db.session.execute(delete(RevokedAccessToken))
            db.session.execute(delete(User).where(User.id != self.admin.id))
            db.session.execute(update(User).where(User.id == self.admin.id).values(
                role="admin", is_active=True, token_version=0, email=ADMIN_EMAIL, display_name=None,
                password_hash=PASSWORD_HASH))
            db.session.execute(select(func.setval(func.pg_get_serial_sequence("users", "id"), self.admin.id)))
            for table in ("books", "authors", "categories"):
                db.session.execute(select(func.setval(func.pg_get_serial_sequence(table, "id"), 1, False)))
            db.session.add_all([Book(**book) for book in FUZZED_CATALOGUE])
            db.session.add_all([Author(name="Frank Herbert"), Category(name="Science fiction")])
            db.session.flush()
            db.session.execute(book_authors.insert().values([{"book_id": 1, "author_id": 1, "position": 0},
                                                             {"book_id": 3, "author_id": 1, "position": 0}]))
            db.session.execute(book_categories.insert().values(book_id=1, category_id=1))
            db.session.commit()
        # Noted before the case runs, since a failing case raises.
        self.changed = case.method.upper() in self.WRITE_METHODS


@pytest.fixture
def fixed_catalogue():
    return FixedCatalogue(UserFactory(role="admin", email=ADMIN_EMAIL))


fuzzed = schemathesis.pytest.from_fixture("api_schema")


# Every operation's cases run within this one test, so its time grows with the API: 34 operations take nearly three
# minutes alone on two cores, and more under load, past the suite's 300 s limit per test.
@pytest.mark.timeout(900)
@fuzzed.parametrize()
@settings(deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much,
])
def test_api_honours_its_openapi_document(case, fixed_catalogue):
    fixed_catalogue.restore_before(case)
    # A schema cannot say "unused ISBN" or "page * size within the offset limit", so a schema-valid request
    # may rightly get a 400 or 422; every other check applies.
    # As an admin, who may call every operation; a fresh token each time, since a fuzzed logout revokes one.
    case.call_and_validate(headers=bearer(fixed_catalogue.admin), excluded_checks=[positive_data_acceptance])


def test_fuzzing_takes_every_documented_client_error_as_a_rejection(api_schema):
    paths = api_schema.raw_schema["paths"]
    documented = {code for path in paths.values() for operation in path.values() for code in operation["responses"]
                  if code.startswith("4")}

    assert documented <= set(api_schema.config.checks.negative_data_rejection.expected_statuses)


def test_fuzzing_tries_the_same_cases_in_every_run(api_schema):
    create_book = api_schema["/api/v1/books"]["POST"]

    def bodies():
        drawn = []
        given(create_book.as_strategy())(lambda case: drawn.append(case.body))()
        return drawn

    assert bodies() == bodies()


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
