"""Signing in through the API, as a client does, for the accounts tests."""
from tests.factories import PASSWORD

# Passes the policy: long, unrelated words, no email in it.
NEW_PASSWORD = "quiet lantern orchard 2041"


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
