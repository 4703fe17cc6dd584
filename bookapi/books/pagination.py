"""Keyset pagination: opaque, signed cursors that carry a sort position, and the conditions that resume there."""
import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from urllib.parse import urlencode

import orjson
from flask import abort, current_app, request
from sqlalchemy import and_, bindparam, cast, or_, tuple_

# Keys derived for cursors sign nothing else, so no other signature made with SECRET_KEY can pass for a cursor.
CURSOR_KEY_PERSON = b"bookapi.cursor"
# Characters a query string may carry unescaped (https://url.spec.whatwg.org/#percent-encoded-bytes).
URL_SAFE = "!$'()*,/:;?@"
# Query parameters that do not change which rows a query selects or their order.
PRESENTATION_ARGS = {"page", "size", "cursor", "count", "fields"}
DECODERS = {"published_date": date.fromisoformat, "created_at": datetime.fromisoformat, "id": int, "rank": float,
            "title": str, "author": str}


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
    return or_(*(
        and_(*(keys[j].expression == values[j] for j in range(i)),
             keys[i].expression < values[i] if keys[i].descending else keys[i].expression > values[i])
        for i in range(len(keys))
    ))


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
    return hashlib.blake2b(payload, key=cursor_key(current_app.config["SECRET_KEY"]), digest_size=16).digest()


def to_base64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_base64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(direction, keys, values, fingerprint):
    """``<payload>.<signature>``, both URL-safe base64: the payload names the query, the keys and the position."""
    position = [value.isoformat() if isinstance(value, (date, datetime)) else value for value in values]
    payload = orjson.dumps({"d": direction, "k": [key.name for key in keys], "v": position, "q": fingerprint})
    return f"{to_base64(payload)}.{to_base64(signature(payload))}"


def decode_cursor(token, keys, fingerprint):
    """``(direction, values)`` from a cursor made for this very query; 400 for anything else."""
    try:
        encoded, _, signed = token.rpartition(".")
        payload = from_base64(encoded)
        if not hmac.compare_digest(from_base64(signed), signature(payload)):
            raise ValueError("bad signature")
        cursor = orjson.loads(payload)
        if cursor["q"] != fingerprint or cursor["k"] != [key.name for key in keys] or cursor["d"] not in ("n", "p"):
            raise ValueError("another query's cursor")
        values = [DECODERS[key.name](value) for key, value in zip(keys, cursor["v"], strict=True)]
    except (KeyError, TypeError, ValueError):
        abort(400, "The cursor is invalid, or belongs to another query: start again from the first page.")
    return cursor["d"], values


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
