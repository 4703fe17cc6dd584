"""Security headers on every response."""
import re

import pytest

from bookapi import create_app, reads
from bookapi.config import ProductionConfig
from bookapi.extensions import db
from tests.conftest import make_config
from tests.factories import BookFactory

BOOKS = "/api/v1/books"
NONCE = re.compile(r"'nonce-([\w-]+)'")


@pytest.fixture
def book():
    return BookFactory()


@pytest.fixture
def client_of():
    """A test client of an app built from ``config``; its connections are closed after the test."""
    apps = []

    def build(config):
        apps.append(create_app(config))
        return apps[-1].test_client()

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()
            app.extensions[reads.EXTENSION].dispose()


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/health"),
        ("get", f"{BOOKS}?size=20"),
        ("get", "/no/such/route"),
        ("post", BOOKS),
        ("get", "/openapi.json"),
        ("get", "/apidocs/static/swagger-ui-bundle.js"),
    ],
)
def test_response_carries_security_headers(client, method, url):
    response = getattr(client, method)(url)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_book_read_gets_the_strict_content_security_policy(client, book):
    response = client.get(f"{BOOKS}/{book.id}")

    assert response.status_code == 200
    assert response.headers.getlist("Content-Security-Policy") == [
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ]


@pytest.mark.parametrize("url", ["/apidocs/", "/redoc"])
def test_docs_page_scripts_and_styles_carry_the_policy_nonce(client, url):
    response = client.get(url)

    assert response.status_code == 200
    (policy,) = response.headers.getlist("Content-Security-Policy")
    assert "frame-ancestors 'none'" in policy
    nonce = NONCE.search(policy)[1]
    page = response.get_data(as_text=True)
    inline = re.findall(r"<(?:script|style)(?![^>]*\ssrc=)[^>]*>", page)
    assert inline and all(f'nonce="{nonce}"' in tag for tag in inline)


def test_docs_page_nonce_is_new_for_each_response(client):
    policies = [client.get("/redoc").headers["Content-Security-Policy"] for _ in range(2)]

    assert NONCE.search(policies[0])[1] != NONCE.search(policies[1])[1]


def test_production_response_demands_https(client_of, book):
    config = type("Prod", (ProductionConfig,), {
        "SQLALCHEMY_DATABASE_URI": make_config().SQLALCHEMY_DATABASE_URI, "SECRET_KEY": "s" * 32,
    })

    response = client_of(config).get(f"{BOOKS}/{book.id}")

    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_development_response_does_not_demand_https(client, book):
    response = client.get(f"{BOOKS}/{book.id}")

    assert "Strict-Transport-Security" not in response.headers
