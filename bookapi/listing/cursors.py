"""Keyset cursors: opaque, signed tokens that carry a sort position, the query they belong to, and the spelling
correction a search's first page was made with."""
import base64
import hashlib
import hmac
import math
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import orjson
from flask import abort, current_app
from sqlalchemy import REAL, BigInteger, Date, DateTime, Float, Integer, Numeric, SmallInteger, String

# Keys derived for cursors sign nothing else, so no other signature made with SECRET_KEY can pass for a cursor.
CURSOR_KEY_PERSON = b"bookapi.cursor"
# Query parameters that do not change which rows a query selects or their order.
PRESENTATION_ARGS = {"page", "size", "cursor", "count", "fields"}
SIGNATURE_SIZE = 16
INVALID_CURSOR = "The cursor is invalid, or belongs to another query: start again from the first page."
# The largest value of each integer type, and the largest finite value of each float type.
INTEGER_LIMITS = {SmallInteger: 2**15 - 1, BigInteger: 2**63 - 1, Integer: 2**31 - 1}
FLOAT_LIMITS = {REAL: 3.4028234663852886e38, Float: sys.float_info.max}
# JSON escapes a control character in six bytes (\u0001), more than UTF-8 takes for any code point.
WIDEST_CHARACTER = "\x01"
# The longest ISO 8601 time zone offset Python writes.
WIDEST_OFFSET = timezone(-timedelta(hours=23, minutes=59, seconds=59, microseconds=999999))


def query_fingerprint(args, scope=b""):
    """A digest of what selects and orders the rows, so a cursor cannot wander into another query; ``scope``, a
    collection's own, keeps it from wandering into another collection's query with the same arguments."""
    selecting = {name: str(value) for name, value in sorted(args.items()) if name not in PRESENTATION_ARGS}
    return hashlib.blake2b(orjson.dumps(selecting), digest_size=8, person=scope).hexdigest()


@lru_cache(maxsize=4)
def cursor_key(secret_key):
    secret = secret_key if isinstance(secret_key, bytes) else secret_key.encode()
    return hashlib.blake2b(secret, digest_size=32, person=CURSOR_KEY_PERSON).digest()


def signature(payload):
    """A keyed BLAKE2b MAC of ``payload``."""
    key = cursor_key(current_app.config["SECRET_KEY"])
    return hashlib.blake2b(payload, key=key, digest_size=SIGNATURE_SIZE).digest()


def to_base64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_base64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cursor_payload(direction, keys, values, fingerprint, correction):
    # Decimals travel as their exact text.
    position = [value.isoformat() if isinstance(value, (date, datetime)) else str(value) if isinstance(value, Decimal)
                else value for value in values]
    return orjson.dumps(
        {"d": direction, "k": [key.name for key in keys], "v": position, "q": fingerprint, "c": correction}
    )


def encode_cursor(direction, keys, values, fingerprint, correction=None):
    """``<payload>.<signature>``, both URL-safe base64: the payload names the query, the keys and the position,
    and carries the spelling correction the query was run with, so that its later pages keep it."""
    payload = cursor_payload(direction, keys, values, fingerprint, correction)
    return f"{to_base64(payload)}.{to_base64(signature(payload))}"


def longest_cursor(keys, correction_length=None):
    """The length of the longest cursor the encoder can make over ``keys`` (at most; a query uses some of them)
    with a correction of up to ``correction_length`` characters (None: a query without corrections)."""
    values = [widest_value(key.expression.type) for key in keys]
    correction = None if correction_length is None else WIDEST_CHARACTER * correction_length
    payload = cursor_payload("n", keys, values, query_fingerprint({}), correction)
    return len(to_base64(payload)) + len(".") + len(to_base64(bytes(SIGNATURE_SIZE)))


def widest_value(sql_type):
    """The value of a column of ``sql_type`` that takes the most characters in a cursor."""
    if isinstance(sql_type, String) and sql_type.length:
        return WIDEST_CHARACTER * sql_type.length
    if isinstance(sql_type, DateTime):
        return datetime.max.replace(tzinfo=WIDEST_OFFSET)
    if isinstance(sql_type, Date):
        return date.max
    if isinstance(sql_type, Integer):
        return -type_limit(INTEGER_LIMITS, sql_type) - 1
    if isinstance(sql_type, Float):
        return -sys.float_info.min
    if isinstance(sql_type, Numeric) and sql_type.precision is not None:
        return -largest_decimal(sql_type)
    raise TypeError(f"no cursor encoding for {sql_type!r} (a string sort key needs a length)")


def largest_decimal(sql_type):
    """The largest value a ``numeric(precision, scale)`` column holds."""
    scale = sql_type.scale or 0
    return Decimal(10) ** (sql_type.precision - scale) - Decimal(1).scaleb(-scale)


def type_limit(limits, sql_type):
    return next(limit for cls, limit in limits.items() if isinstance(sql_type, cls))


def position_value(sql_type, value):
    """A decoded position value, if a column of ``sql_type`` can hold it (ValueError if not): the encoder wrote
    no other, and a value PostgreSQL refuses would fail the request with a 422 or a 500 instead of a 400."""
    if isinstance(sql_type, String):
        return text_value(value, sql_type.length)
    if isinstance(sql_type, (Date, DateTime)) and isinstance(value, str):
        return (datetime if isinstance(sql_type, DateTime) else date).fromisoformat(value)
    if isinstance(sql_type, Integer) and type(value) is int:
        if -type_limit(INTEGER_LIMITS, sql_type) - 1 <= value <= type_limit(INTEGER_LIMITS, sql_type):
            return value
    if isinstance(sql_type, Float) and type(value) in (int, float) and math.isfinite(value):
        if abs(value) <= type_limit(FLOAT_LIMITS, sql_type):
            return value
    if isinstance(sql_type, Numeric) and not isinstance(sql_type, Float) and isinstance(value, str):
        return decimal_value(sql_type, value)
    raise ValueError(f"not a value of {sql_type!r}")


def decimal_value(sql_type, text):
    """``text`` as a Decimal if a column of ``sql_type`` holds it exactly; else ValueError."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a decimal") from None
    if not value.is_finite() or abs(value) > largest_decimal(sql_type) or value != round(value, sql_type.scale or 0):
        raise ValueError(f"not a value of {sql_type!r}")
    return value


def text_value(value, length=None):
    """``value`` if it is text PostgreSQL can store (no NUL) of at most ``length`` characters; else ValueError."""
    if not isinstance(value, str) or "\x00" in value or (length is not None and len(value) > length):
        raise ValueError("not storable text")
    return value


@dataclass(frozen=True)
class Cursor:
    """A cursor whose signature checked out: which way it walks, from where, and for which query."""

    direction: str
    key_names: list
    values: list
    fingerprint: str
    correction: str | None

    def position(self, keys, fingerprint):
        """The position's values, typed as ``keys`` hold them; 400 if the cursor is another query's, or holds a
        value their columns cannot."""
        try:
            if self.fingerprint != fingerprint or self.key_names != [key.name for key in keys]:
                raise ValueError("another query's cursor")
            return [position_value(key.expression.type, value)
                    for key, value in zip(keys, self.values, strict=True)]
        except ValueError:
            abort(400, INVALID_CURSOR)


def decode_cursor(token, max_length):
    """The ``Cursor`` that ``token`` signs; 400 for anything the encoder did not make."""
    try:
        if len(token) > max_length:
            raise ValueError("longer than any cursor")
        encoded, _, signed = token.rpartition(".")
        payload = from_base64(encoded)
        if not hmac.compare_digest(from_base64(signed), signature(payload)):
            raise ValueError("bad signature")
        cursor = orjson.loads(payload)
        if cursor["d"] not in ("n", "p") or not isinstance(cursor["v"], list):
            raise ValueError("not a position")
        correction = None if cursor["c"] is None else text_value(cursor["c"])
        return Cursor(cursor["d"], cursor["k"], cursor["v"], cursor["q"], correction)
    except (KeyError, TypeError, ValueError):
        abort(400, INVALID_CURSOR)
