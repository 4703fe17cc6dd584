"""Signing in through the API, as a client does, and apps of a test's own, for the accounts tests."""
import threading
from contextlib import contextmanager

from bookapi import create_app, reads
from bookapi.extensions import db
from tests.conftest import make_config
from tests.factories import PASSWORD

# Passes the policy: long, unrelated words, no email in it.
NEW_PASSWORD = "quiet lantern orchard 2041"


def assert_refused(response):
    """A token the service did not issue, or no longer honours."""
    assert response.status_code == 401
    assert response.get_json()["detail"] == "Could not validate credentials"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def at_once(*calls):
    """Run ``calls`` in threads released together, as concurrent requests; their results, in order."""
    start, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        start.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=indexed) for indexed in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def login(client, email, password=PASSWORD, **kwargs):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password}, **kwargs)


def tokens_of(client, user, password=PASSWORD):
    """A new sign-in of ``user``: the access and refresh tokens a login answers with."""
    response = login(client, user.email, password)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def authorization(access_token):
    return {"Authorization": f"Bearer {access_token}"}


def refresh(client, refresh_token, **kwargs):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token}, **kwargs)


def me(client, access_token):
    return client.get("/api/v1/auth/me", headers=authorization(access_token))


@contextmanager
def own_app(**settings):
    """An app with some settings changed; its connection pools are closed when the test is done with it."""
    app = create_app(make_config(**settings))
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
            app.extensions[reads.EXTENSION].dispose()
