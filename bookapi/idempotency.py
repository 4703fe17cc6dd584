"""Safe retries of creating requests: the ``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key-header).

A view declares ``@idempotent`` next to its route. A request that carries a key runs once per caller and key: the
outcome of a success (status, the headers that matter and the exact body) is stored in the same transaction as the
write it reports, so a retry after that transaction committed gets the same answer back and creates nothing, and a
retry after it rolled back (or never reached COMMIT) runs anew. Failures are not stored: a 4xx changes nothing, so
the same key may be sent again with a corrected body.

The declared view leaves its transaction open; this module commits it, with the key's record when a key was sent,
so that the write and its record are stored together or not at all.
"""
import functools
import hashlib
import json
import re
from datetime import datetime, timedelta

from flask import abort, current_app, g, request
from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, LargeBinary, SmallInteger, String, delete, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, mapped_column

from bookapi import metrics
from bookapi.extensions import db
from bookapi.payloads import body_bytes

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Printable ASCII (a key travels in a header, where other characters are mangled or refused) but the comma: two
# Idempotency-Key headers reach the app as one value, their values joined by a comma.
KEY_PATTERN = rf"^[\x20-\x2b\x2d-\x7e]{{1,{MAX_KEY_LENGTH}}}$"
KEY_SYNTAX = re.compile(KEY_PATTERN)
# What a replay must repeat for a client to read it as the first answer: where the resource is, its validators,
# and how to read the body. The rest (security headers, request id, CORS) is each response's own.
STORED_HEADERS = ("Content-Type", "Location", "ETag", "Last-Modified")
LOCK_PERSON = b"bookapi.idem"
MALFORMED = f"{KEY_HEADER} must be one value of 1 to {MAX_KEY_LENGTH} printable ASCII characters, without a comma."
IN_PROGRESS = f"A request with this {KEY_HEADER} is still being processed; retry once it has finished."
OTHER_REQUEST = f"This {KEY_HEADER} was used for another request: send a new key with a new request."


class IdempotencyKey(db.Model):
    """The stored outcome of a successful request that carried a key, per caller and key, until ``expires_at``."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    # SHA-256 of the method, path and canonical JSON body: a key sent again with another request is refused.
    request_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(SmallInteger)
    headers: Mapped[dict] = mapped_column(JSONB)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def idempotent(view):
    """Let ``view`` take an ``Idempotency-Key``, and commit its transaction (see the module's docstring).

    Only for views that need a signed-in caller: keys are scoped to ``g.user``.
    """

    @functools.wraps(view)
    def run(**kwargs):
        key = requested_key()
        if key is None:
            result = view(**kwargs)
            db.session.commit()
            return result
        return run_once(view, kwargs, g.user.id, key)

    run.idempotent = True
    return run


def is_idempotent(view):
    return getattr(view, "idempotent", False)


def requested_key():
    """The request's key, None without one; 400 when it is not one value of the allowed syntax."""
    key = request.headers.get(KEY_HEADER)
    if key is not None and not KEY_SYNTAX.fullmatch(key):
        abort(400, MALFORMED)
    return key


def run_once(view, kwargs, user_id, key):
    # The lock and the lookup are two statements, so that the lookup's snapshot is taken once the lock is held and
    # sees the record of a request that held it until its COMMIT.
    if not db.session.scalar(select(func.pg_try_advisory_xact_lock(lock_id(user_id, key)))):
        abort(409, IN_PROGRESS)
    transaction = db.session().get_transaction()
    digest = request_digest()
    stored = db.session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key, IdempotencyKey.expires_at > func.now(),
    )).first()
    if stored is not None:
        if stored.request_digest != digest:
            abort(422, OTHER_REQUEST)
        return replay(stored)
    response = current_app.make_response(view(**kwargs))
    if db.session().get_transaction() is not transaction:
        raise RuntimeError(f"{view.__name__} ended its transaction: an @idempotent view leaves the commit to it")
    if 200 <= response.status_code < 300:
        record(user_id, key, digest, response)
    db.session.commit()
    return response


def lock_id(user_id, key):
    """The advisory lock that one caller's requests with one key take: a 64-bit digest of both."""
    digest = hashlib.blake2b(f"{user_id}:{key}".encode(), digest_size=8, person=LOCK_PERSON).digest()
    return int.from_bytes(digest, "big", signed=True)


def request_digest():
    """A digest of what the request asks for: its method, path and body, the body as canonical JSON when it is JSON
    (so that spacing and key order do not make it another request)."""
    # Read as the view reads it: once, and within MAX_CONTENT_LENGTH even when chunked.
    content = canonical_json(body_bytes())
    return hashlib.sha256(b"\n".join([request.method.encode(), request.path.encode(), content])).hexdigest()


def canonical_json(content):
    try:
        return json.dumps(json.loads(content), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return content  # not JSON: the view refuses it; the bytes stand for it meanwhile


def record(user_id, key, digest, response):
    outcome = {
        "request_digest": digest,
        "status": response.status_code,
        "headers": {name: response.headers[name] for name in STORED_HEADERS if name in response.headers},
        "body": response.get_data(),
        "created_at": func.now(),
        "expires_at": func.now() + timedelta(seconds=current_app.config["IDEMPOTENCY_KEY_TTL"]),
    }
    # The lock is held and no live record was found, so a row in the way is an expired one not yet purged.
    db.session.execute(
        insert(IdempotencyKey).values(user_id=user_id, key=key, **outcome)
        .on_conflict_do_update(index_elements=["user_id", "key"], set_=outcome)
    )


def replay(stored):
    response = current_app.response_class(stored.body, status=stored.status, headers=stored.headers)
    response.headers[REPLAYED_HEADER] = "true"
    metrics.IDEMPOTENT_REPLAYS.inc()
    return response


def purge_expired():
    """Delete the records of keys past their expiry; return how many."""
    purged = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= func.now())).rowcount
    db.session.commit()
    return purged
