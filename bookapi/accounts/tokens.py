"""Access tokens (JWT, short-lived) and refresh tokens (opaque, stored hashed, single use, rotating by family)."""
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import jwt
from flask import current_app, g, request
from sqlalchemy import exists, select, update
from werkzeug.exceptions import Unauthorized

from bookapi import metrics
from bookapi.accounts.models import RefreshToken, RevokedAccessToken, User
from bookapi.extensions import db

JWT_KEY_PERSON = b"bookapi.jwt"
SYMMETRIC = "HS256"
INVALID = 'Bearer error="invalid_token"'
TOKEN_TYPE = "bearer"  # nosec B105  # the OAuth 2.0 token type name (RFC 6750), not a secret
# "ver" ties a token to the account's token_version, "fam" to the sign-in whose refresh tokens logout revokes.
REQUIRED_CLAIMS = ["sub", "iat", "nbf", "exp", "iss", "aud", "jti", "ver", "fam"]


class BearerChallenge(Unauthorized):
    """A 401 with an RFC 6750 challenge, its error code quoted as the RFC writes it (werkzeug's own would not)."""

    def __init__(self, description, challenge):
        super().__init__(description)
        self.challenge = challenge

    def get_headers(self, environ=None, scope=None):
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", self.challenge)]


class Credentials:
    """Refused credentials, with the messages that clients of the first design know."""

    @staticmethod
    def missing():
        raise BearerChallenge("Not authenticated", "Bearer")

    @staticmethod
    def invalid():
        raise BearerChallenge("Could not validate credentials", INVALID)

    @staticmethod
    def incorrect():
        """A failed login: which of the email and the password was wrong, the caller is not told."""
        raise BearerChallenge("Incorrect email or password", "Bearer")


@lru_cache(maxsize=4)
def signing_keys(algorithm, secret_key, private_key_file, public_key_file):
    """``(signing key, verifying key)``: a key derived from SECRET_KEY for HS256 (no other signature made with
    SECRET_KEY can pass for a token), or a PEM key pair for the asymmetric algorithms."""
    if algorithm == SYMMETRIC:
        secret = secret_key if isinstance(secret_key, bytes) else secret_key.encode()
        key = hashlib.blake2b(secret, digest_size=32, person=JWT_KEY_PERSON).digest()
        return key, key
    private_pem = Path(private_key_file).read_bytes()
    private_key = jwt.algorithms.get_default_algorithms()[algorithm].prepare_key(private_pem)
    public_key = (jwt.algorithms.get_default_algorithms()[algorithm].prepare_key(Path(public_key_file).read_bytes())
                  if public_key_file else private_key.public_key())
    return private_key, public_key


def keys():
    config = current_app.config
    return signing_keys(config["JWT_ALGORITHM"], config["SECRET_KEY"], config["JWT_PRIVATE_KEY_FILE"],
                        config["JWT_PUBLIC_KEY_FILE"])


def now():
    return datetime.now(timezone.utc)


def access_token(user, family_id):
    """A signed JWT for ``user``, tied to the refresh family it was issued with."""
    config, issued = current_app.config, now()
    claims = {
        "sub": str(user.id), "iat": issued, "nbf": issued, "exp": issued + timedelta(seconds=config["JWT_ACCESS_TTL"]),
        "iss": config["JWT_ISSUER"], "aud": config["JWT_AUDIENCE"], "jti": uuid.uuid4().hex,
        "ver": user.token_version, "fam": str(family_id),
    }
    return jwt.encode(claims, keys()[0], algorithm=config["JWT_ALGORITHM"])


def decode_access_token(token):
    """The claims of a token this service issued and that is still valid; else None.

    Only the configured algorithm is accepted, so neither ``none`` nor a token signed with the public key as an
    HMAC secret can pass.
    """
    config = current_app.config
    try:
        return jwt.decode(
            token, keys()[1], algorithms=[config["JWT_ALGORITHM"]], audience=config["JWT_AUDIENCE"],
            issuer=config["JWT_ISSUER"], options={"require": REQUIRED_CLAIMS}, leeway=config["JWT_LEEWAY"],
        )
    except jwt.PyJWTError:
        return None


def bearer_token():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        Credentials.missing()
    return token.strip()


def authenticated_user():
    """The active account that signed this request, read with its current role; 401 otherwise.

    One indexed query: the account, and whether the token was signed out.
    """
    claims = decode_access_token(bearer_token())
    if claims is None or not claims["sub"].isdigit():
        Credentials.invalid()
    revoked = exists().where(RevokedAccessToken.jti == claims["jti"])
    found = db.session.execute(select(User, revoked).where(User.id == int(claims["sub"]))).first()
    if found is None or found[1] or not found[0].is_active or found[0].token_version != claims.get("ver"):
        Credentials.invalid()
    g.user, g.token_claims = found[0], claims
    return found[0]


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def token_pair(user, family_id=None):
    """A new access token and a new refresh token (of ``family_id``, or of a new family: a new sign-in)."""
    family_id = family_id or uuid.uuid4()
    refresh = secrets.token_urlsafe(32)
    db.session.add(RefreshToken(
        token_hash=digest(refresh), family_id=family_id, user_id=user.id,
        expires_at=now() + timedelta(seconds=current_app.config["JWT_REFRESH_TTL"]),
    ))
    return {
        "access_token": access_token(user, family_id), "token_type": TOKEN_TYPE,
        "expires_in": current_app.config["JWT_ACCESS_TTL"], "refresh_token": refresh,
    }


def lock_account(user_id):
    """The account as committed now, share-locked until this transaction ends; None if it is gone.

    Whatever issues tokens takes this lock first, and a password change or a deactivation updates the account
    before it revokes tokens: so either it waits for the tokens being issued and revokes them too, or they wait
    for it and see it.
    """
    return db.session.get(User, user_id, with_for_update={"read": True}, populate_existing=True)


def rotate(refresh):
    """Trade a refresh token for a new pair. A token presented a second time revokes its whole family: either its
    owner or a thief is replaying it, and the family cannot tell which."""
    owner_id = db.session.scalar(select(RefreshToken.user_id).where(RefreshToken.token_hash == digest(refresh)))
    if owner_id is None:
        Credentials.invalid()
    user = lock_account(owner_id)
    stored = db.session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == digest(refresh)).with_for_update()
    ).first()
    if stored is None or user is None:
        Credentials.invalid()
    if stored.used_at is not None or stored.revoked_at is not None:
        revoke_family(stored.family_id)
        db.session.commit()
        metrics.REFRESH_REUSE.inc()
        Credentials.invalid()
    if stored.expires_at <= now() or not user.is_active:
        Credentials.invalid()
    stored.used_at = now()
    return token_pair(user, stored.family_id)


def revoke_family(family_id):
    db.session.execute(
        update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )


def revoke_all(user):
    """Sign ``user`` out everywhere: every token issued so far is refused from now on."""
    user.token_version += 1
    db.session.execute(
        update(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )


def sign_out(claims):
    """Revoke the refresh family of the caller's sign-in and the access token it presented."""
    revoke_family(uuid.UUID(claims["fam"]))
    expires = datetime.fromtimestamp(claims["exp"], timezone.utc)
    db.session.merge(RevokedAccessToken(jti=claims["jti"], expires_at=expires))


def purge_expired():
    """Delete refresh tokens and access-token revocations past their expiry; return how many of each."""
    tokens = db.session.execute(RefreshToken.__table__.delete().where(RefreshToken.expires_at < now())).rowcount
    revocations = db.session.execute(
        RevokedAccessToken.__table__.delete().where(RevokedAccessToken.expires_at < now())
    ).rowcount
    db.session.commit()
    return tokens, revocations
