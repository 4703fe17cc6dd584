"""Keyset pagination: opaque, signed cursors that carry a sort position, and the conditions that resume there."""
import base64
import hashlib
import hmac
import math
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from urllib.parse import urlencode

import orjson
from flask import abort, current_app, request
from sqlalchemy import (
    REAL,
    BigInteger,
    Date,
    DateTime,
    Float,
    Integer,
    SmallInteger,
    String,
    and_,
    bindparam,
    cast,
    or_,
    tuple_,
)

# Keys derived for cursors sign nothing else, so no other signature made with SECRET_KEY can pass for a cursor.
CURSOR_KEY_PERSON = b"bookapi.cursor"
# Characters a query string may carry unescaped (https://url.spec.whatwg.org/#percent-encoded-bytes).
URL_SAFE = "!$'()*,/:;?@"
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


@dataclass(frozen=True)
class SortKey:
    name: str
    expression: object
    descending: bool

    def reversed(self):
        return SortKey(self.name, self.expression, not self.descending)

    def order_by(self):
        return self.expression.desc() if self.descending else self.expression.asc()


@dataclass
class Page:
    items: list
    size: int
    total: int
    total_is_estimate: bool
    page: int | None = None
    next_cursor: str | None = None
    prev_cursor: str | None = None

    @property
    def pages(self):
        return -(-self.total // self.size) if self.page is not None else None


def rows_after(keys):
    """Rows strictly after the position bound as ``after_0``, ``after_1``, … in the order of ``keys``."""
    # Cast to each key's own type: a rank is a float4, and its float8 neighbour would not compare equal.
    values = [cast(bindparam(f"after_{i}"), key.expression.type) for i, key in enumerate(keys)]
    if len({key.descending for key in keys}) == 1:
        left, right = tuple_(*(key.expression for key in keys)), tuple_(*values)
        return left < right if keys[0].descending else left > right
    # Mixed directions cannot compare as one row. The first key's bound, implied by the OR, is what lets a page
    # start at its place in that key's index rather than walk the index from one end.
    first, after_first = keys[0].expression, values[0]
    return and_(first <= after_first if keys[0].descending else first >= after_first, or_(*(
        and_(*(keys[j].expression == values[j] for j in range(i)),
             keys[i].expression < values[i] if keys[i].descending else keys[i].expression > values[i])
        for i in range(len(keys))
    )))


def position_parameters(values):
    """The parameters of ``rows_after`` for a position."""
    return {f"after_{i}": value for i, value in enumerate(values)}


def query_fingerprint(args):
    """A digest of what selects and orders the rows, so a cursor cannot wander into another query."""
    selecting = {name: str(value) for name, value in sorted(args.items()) if name not in PRESENTATION_ARGS}
    return hashlib.blake2b(orjson.dumps(selecting), digest_size=8).hexdigest()


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
    position = [value.isoformat() if isinstance(value, (date, datetime)) else value for value in values]
    return orjson.dumps(
        {"d": direction, "k": [key.name for key in keys], "v": position, "q": fingerprint, "c": correction}
    )


def encode_cursor(direction, keys, values, fingerprint, correction=None):
    """``<payload>.<signature>``, both URL-safe base64: the payload names the query, the keys and the position,
    and carries the spelling correction the query was run with, so that its later pages keep it."""
    payload = cursor_payload(direction, keys, values, fingerprint, correction)
    return f"{to_base64(payload)}.{to_base64(signature(payload))}"


def longest_cursor(keys, correction_length):
    """The length of the longest cursor the encoder can make over ``keys`` (at most; a query uses some of them)
    with a correction of up to ``correction_length`` characters."""
    values = [widest_value(key.expression.type) for key in keys]
    payload = cursor_payload("n", keys, values, query_fingerprint({}), WIDEST_CHARACTER * correction_length)
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
    raise TypeError(f"no cursor encoding for {sql_type!r} (a string sort key needs a length)")


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
    raise ValueError(f"not a value of {sql_type!r}")


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


def page_links(page):
    """RFC 8288 links to the first, next and previous pages, keeping the request's other parameters."""
    path = request.script_root + request.path
    args = [(name, value) for name, value in request.args.items() if name not in ("page", "cursor")]
    links = [f'<{page_url(path, args)}>; rel="first"']
    for rel, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)):
        if cursor:
            links.append(f'<{page_url(path, [*args, ("cursor", cursor)])}>; rel="{rel}"')
    return ", ".join(links)


def page_url(path, query):
    return f"{path}?{urlencode(query, safe=URL_SAFE)}" if query else path
