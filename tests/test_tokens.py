"""Access tokens (JWT) and refresh tokens: what is accepted, what is refused, and when tokens die."""
import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import func, select, update

from bookapi.accounts import tokens
from bookapi.accounts.models import RefreshToken
from bookapi.extensions import db
from tests.accounts import assert_refused, at_once, authorization, me, own_app, refresh, tokens_of
from tests.factories import UserFactory


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header, claims):
    """A JWT's first two parts, to be signed (or not) by hand."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def claims_for(user, **changes):
    issued = int(time.time())
    claims = {
        "sub": str(user.id), "iat": issued, "nbf": issued, "exp": issued + 900, "iss": "bookapi", "aud": "bookapi",
        "jti": uuid.uuid4().hex, "ver": 0, "fam": str(uuid.uuid4()),
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def signed(claims, key=None, algorithm="HS256"):
    return jwt.encode(claims, tokens.keys()[0] if key is None else key, algorithm=algorithm)


def tampered(token):
    """The token with its payload swapped for another that names a different account."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = str(int(claims["sub"]) + 1)
    return ".".join([header, b64(json.dumps(claims).encode()), signature])


def test_login_access_token_carries_the_registered_claims(anonymous):
    user = UserFactory()

    access_token = tokens_of(anonymous, user)["access_token"]

    header = jwt.get_unverified_header(access_token)
    claims = jwt.decode(access_token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert {"sub", "iat", "nbf", "exp", "iss", "aud", "jti"} <= set(claims)
    assert (claims["sub"], claims["iss"], claims["aud"]) == (str(user.id), "bookapi", "bookapi")
    assert claims["exp"] - claims["iat"] == 900


FORGERIES = {
    "alg none": lambda user: unsigned({"alg": "none", "typ": "JWT"}, claims_for(user)) + ".",
    "alg None, signature kept": lambda user: unsigned({"alg": "None"}, claims_for(user)) + "."
    + signed(claims_for(user)).split(".")[2],
    "another algorithm": lambda user: signed(claims_for(user), algorithm="HS512"),
    "a wrong key": lambda user: signed(claims_for(user), key=b"k" * 32),
    "the SECRET_KEY itself": lambda user: signed(claims_for(user), key=b"dev-only-change-me"),
    "a tampered payload": lambda user: tampered(signed(claims_for(user))),
    "a tampered signature": lambda user: signed(claims_for(user))[:-8] + "AAAAAAAA",
    "expired": lambda user: signed(claims_for(user, iat=int(time.time()) - 1000, exp=int(time.time()) - 1)),
    "not yet valid": lambda user: signed(claims_for(user, nbf=int(time.time()) + 60)),
    "issued in the future": lambda user: signed(claims_for(user, iat=int(time.time()) + 60)),
    "a wrong audience": lambda user: signed(claims_for(user, aud="another-service")),
    "a wrong issuer": lambda user: signed(claims_for(user, iss="https://evil.example.com")),
    "an unknown account": lambda user: signed(claims_for(user, sub="987654")),
    "a non-numeric subject": lambda user: signed(claims_for(user, sub="admin")),
    "a stale token version": lambda user: signed(claims_for(user, ver=-1)),
    **{f"no {claim}": (lambda claim: lambda user: signed(claims_for(user, **{claim: None})))(claim)
       for claim in ("sub", "iat", "nbf", "exp", "iss", "aud", "jti")},
    "not a JWT": lambda user: "not-a-token",
    "three garbage parts": lambda user: "a.b.c",
}


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # forgeries use weak keys on purpose
def test_forged_or_invalid_access_token_is_401_invalid_token(anonymous, forgery):
    user = UserFactory(role="admin")

    response = anonymous.get("/api/v1/auth/me", headers=authorization(FORGERIES[forgery](user)))

    assert_refused(response)


def test_token_signed_like_the_forgeries_but_valid_is_accepted(anonymous):
    """The forgeries above differ from this token by their one defect only."""
    user = UserFactory()

    assert me(anonymous, signed(claims_for(user))).status_code == 200


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic cmVhZGVyOnB3", "Token abc"])
def test_request_without_a_bearer_token_is_401_not_authenticated(anonymous, header):
    response = anonymous.get("/api/v1/auth/me", headers={"Authorization": header} if header is not None else {})

    assert response.status_code == 401
    assert response.get_json()["detail"] == "Not authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def private_key_file(path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path)


@pytest.fixture
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def rs256_client(tmp_path, rsa_key):
    """A client of an app that signs its tokens with RS256 and a key file of its own."""
    with own_app(JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=private_key_file(tmp_path / "k.pem", rsa_key)) as app:
        yield app.test_client()


def test_rs256_service_issues_tokens_it_accepts(rs256_client, rsa_key):
    user = UserFactory()

    access_token = tokens_of(rs256_client, user)["access_token"]

    assert jwt.get_unverified_header(access_token)["alg"] == "RS256"
    assert jwt.decode(access_token, rsa_key.public_key(), algorithms=["RS256"], audience="bookapi")["sub"] == \
        str(user.id)
    assert me(rs256_client, access_token).status_code == 200


def test_rs256_service_refuses_hs256_signed_with_its_public_key(rs256_client, rsa_key):
    public_pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = unsigned({"alg": "HS256", "typ": "JWT"}, claims_for(UserFactory()))
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

    assert_refused(me(rs256_client, f"{signing_input}.{b64(signature)}"))


@pytest.mark.parametrize("forgery", ["another RSA key", "alg none", "the HS256 service key"])
def test_rs256_service_refuses_tokens_it_did_not_sign(rs256_client, forgery):
    user = UserFactory()
    token = {
        "another RSA key": lambda: signed(claims_for(user), rsa.generate_private_key(65537, 2048), "RS256"),
        "alg none": lambda: unsigned({"alg": "none"}, claims_for(user)) + ".",
        "the HS256 service key": lambda: signed(claims_for(user)),
    }[forgery]()

    assert_refused(me(rs256_client, token))


def test_eddsa_service_issues_tokens_it_accepts(tmp_path):
    key_file = private_key_file(tmp_path / "ed.pem", ed25519.Ed25519PrivateKey.generate())
    with own_app(JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=key_file) as app:
        client = app.test_client()

        assert me(client, tokens_of(client, UserFactory())["access_token"]).status_code == 200


def test_refresh_returns_a_new_pair_and_the_old_refresh_token_is_single_use(anonymous):
    pair = tokens_of(anonymous, UserFactory())

    renewed = refresh(anonymous, pair["refresh_token"])

    assert renewed.status_code == 200
    assert set(renewed.get_json()) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert renewed.get_json()["refresh_token"] != pair["refresh_token"]
    assert me(anonymous, renewed.get_json()["access_token"]).status_code == 200
    assert_refused(refresh(anonymous, pair["refresh_token"]))


def test_refresh_token_reused_revokes_its_whole_family(anonymous):
    user = UserFactory()
    stolen = tokens_of(anonymous, user)
    legitimate = refresh(anonymous, stolen["refresh_token"]).get_json()
    other_sign_in = tokens_of(anonymous, user)

    assert_refused(refresh(anonymous, stolen["refresh_token"]))

    assert_refused(refresh(anonymous, legitimate["refresh_token"]))
    assert refresh(anonymous, other_sign_in["refresh_token"]).status_code == 200


def test_refresh_tokens_are_stored_as_digests_only(anonymous):
    refresh_token = tokens_of(anonymous, UserFactory())["refresh_token"]

    stored = db.session.scalars(select(RefreshToken.token_hash)).all()
    assert stored == [hashlib.sha256(refresh_token.encode()).hexdigest()]


@pytest.mark.parametrize("refresh_token", ["unknown-token", "x" * 256, "nul\u0000"])
def test_refresh_with_a_token_never_issued_is_401(anonymous, refresh_token):
    tokens_of(anonymous, UserFactory())

    assert_refused(refresh(anonymous, refresh_token))


def test_refresh_with_an_expired_token_is_401(anonymous):
    user = UserFactory()
    refresh_token = tokens_of(anonymous, user)["refresh_token"]
    db.session.execute(update(RefreshToken).values(expires_at=func.now()))
    db.session.commit()

    assert_refused(refresh(anonymous, refresh_token))


def test_refresh_race_with_one_token_gives_one_pair_and_revokes_the_family(app):
    refresh_token = tokens_of(app.test_client(), UserFactory())["refresh_token"]
    clients = [app.test_client(), app.test_client()]

    answers = at_once(*(lambda client=client: refresh(client, refresh_token) for client in clients))

    assert sorted(answer.status_code for answer in answers) == [200, 401]
    winner = next(answer for answer in answers if answer.status_code == 200).get_json()
    assert_refused(refresh(app.test_client(), winner["refresh_token"]))
