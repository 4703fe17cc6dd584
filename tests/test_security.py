"""Security headers on every response, CORS for the allowed origins only, and client addresses that no client can
spoof."""
import logging
import re

import pytest
from flask import request
from sqlalchemy import text

from bookapi import create_app, reads
from bookapi.access import public
from bookapi.config import ProductionConfig
from bookapi.extensions import db
from tests.conftest import make_config
from tests.factories import BookFactory

BOOKS = "/api/v1/books"
SECRET = "s3cret-token-value"
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


ALLOWED = "https://books.example"


@pytest.fixture
def cors_client(client_of):
    return client_of(make_config(ALLOWED_ORIGINS=[ALLOWED]))


def cors_headers(response):
    return {name for name in response.headers.keys() if name.lower().startswith("access-control-")}


def preflight(client, origin, method="POST", headers="Content-Type"):
    return client.options(BOOKS, headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers,
    })


def test_cors_preflight_from_allowed_origin(cors_client):
    response = preflight(cors_client, ALLOWED)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_cors_preflight_allows_authorization_header(cors_client):
    response = preflight(cors_client, ALLOWED, method="DELETE", headers="Authorization, If-Match")

    assert response.status_code == 200
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "if-match"} <= allowed


def test_cors_preflight_allows_idempotency_key_header(cors_client):
    response = preflight(cors_client, ALLOWED, headers="Authorization, Content-Type, Idempotency-Key")

    assert response.status_code == 200
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert "idempotency-key" in allowed


def test_cors_preflight_leaves_out_headers_not_on_the_list(cors_client):
    response = preflight(cors_client, ALLOWED, headers="Content-Type, X-Debug-Token")

    assert response.status_code == 200
    assert "x-debug-token" not in response.headers["Access-Control-Allow-Headers"].lower()


def test_cors_preflight_from_other_origin_gets_no_cors_headers(cors_client):
    response = preflight(cors_client, "https://evil.example", headers="Authorization")

    assert cors_headers(response) == set()


def test_cors_exposes_location_to_allowed_origin(cors_client):
    response = cors_client.get("/health", headers={"Origin": ALLOWED})

    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Location" in response.headers["Access-Control-Expose-Headers"]


def test_cors_exposes_rate_limit_headers_to_allowed_origin(cors_client):
    response = cors_client.get("/health", headers={"Origin": ALLOWED})

    exposed = {name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"RateLimit", "RateLimit-Policy", "Retry-After"} <= exposed


def test_cors_exposes_idempotent_replayed_to_allowed_origin(cors_client):
    response = cors_client.get("/health", headers={"Origin": ALLOWED})

    exposed = {name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert "Idempotent-Replayed" in exposed


def test_cors_gives_other_origins_no_cors_headers(cors_client):
    response = cors_client.get("/health", headers={"Origin": "https://evil.example"})

    assert response.status_code == 200
    assert cors_headers(response) == set()


def test_cors_is_off_without_allowed_origins(client):
    response = client.get("/health", headers={"Origin": ALLOWED})

    assert cors_headers(response) == set()


def test_openapi_document_names_the_headers_browsers_may_send_and_read(client):
    description = client.get("/openapi.json").get_json()["info"]["description"]

    assert "`Authorization`" in description
    assert "`RateLimit-Policy`" in description


@pytest.fixture
def address_client(client_of):
    """A client of an app with TRUSTED_PROXY_COUNT set, and a route that answers with the address it sees."""

    def build(trusted_proxies):
        client = client_of(make_config(TRUSTED_PROXY_COUNT=trusted_proxies))
        client.application.add_url_rule("/client-address", "client_address", public(lambda: request.remote_addr))
        return client

    return build


def client_address(client, forwarded_for, peer="10.0.0.3"):
    """The address the app sees for a request from ``peer`` that carries X-Forwarded-For ``forwarded_for``."""
    response = client.get("/client-address", headers={"X-Forwarded-For": forwarded_for},
                          environ_base={"REMOTE_ADDR": peer})
    return response.get_data(as_text=True)


def test_client_address_ignores_forwarded_for_by_default(address_client):
    assert client_address(address_client(0), "203.0.113.7") == "10.0.0.3"


@pytest.mark.parametrize("trusted_proxies, address", [(1, "10.0.0.2"), (2, "203.0.113.7")])
def test_client_address_comes_through_trusted_proxies_only(address_client, trusted_proxies, address):
    # The client sent "X-Forwarded-For: 6.6.6.6"; its own address, then each proxy's, were appended after it.
    assert client_address(address_client(trusted_proxies), "6.6.6.6, 203.0.113.7, 10.0.0.2") == address


def test_client_address_is_the_peer_when_proxies_sent_fewer_entries(address_client):
    assert client_address(address_client(2), "203.0.113.7") == "10.0.0.3"


def test_negative_trusted_proxy_count_is_refused():
    with pytest.raises(RuntimeError, match="TRUSTED_PROXY_COUNT"):
        create_app(make_config(TRUSTED_PROXY_COUNT=-1))


@pytest.fixture
def failing_client(client_of):
    """A client of an app whose routes fail in the database, on statements that carry a secret parameter."""
    client = client_of(make_config())
    app = client.application

    @app.get("/bad-sql")
    @public
    def bad_sql():
        db.session.execute(text("SELECT * FROM no_such_table WHERE note = :note"), {"note": SECRET})

    @app.get("/slow-sql")
    @public
    def slow_sql():
        db.session.execute(text("SET LOCAL statement_timeout = 50"))
        db.session.execute(text("SELECT pg_sleep(1) WHERE :note IS NOT NULL"), {"note": SECRET})

    return client


@pytest.mark.parametrize("url, status", [("/bad-sql", 500), ("/slow-sql", 503)])
def test_database_failure_body_shows_no_traceback_sql_or_values(failing_client, url, status):
    response = failing_client.get(url)

    assert response.status_code == status
    body = response.get_data(as_text=True)
    for internal in ("Traceback", "SELECT", "no_such_table", "pg_sleep", "psycopg2", SECRET):
        assert internal not in body


def test_database_outage_log_hides_query_parameters(failing_client, caplog):
    with caplog.at_level(logging.ERROR):
        assert failing_client.get("/slow-sql").status_code == 503

    logged = "\n".join(f"{record.getMessage()} {record.exc_text}" for record in caplog.records)
    assert "pg_sleep" in logged
    assert SECRET not in logged
