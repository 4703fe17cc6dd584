"""Keyset pagination: opaque, signed cursors that carry a sort position, and the conditions that resume there."""
import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import orjson
from flask import abort, current_app, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, bindparam, cast, or_, tuple_

CURSOR_SALT = "bookapi.books.cursor"
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


def serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=CURSOR_SALT)


def encode_cursor(direction, keys, values, fingerprint):
    position = [value.isoformat() if isinstance(value, (date, datetime)) else value for value in values]
    return serializer().dumps({"d": direction, "k": [key.name for key in keys], "v": position, "q": fingerprint})


def decode_cursor(token, keys, fingerprint):
    """``(direction, values)`` from a cursor made for this very query; 400 for anything else."""
    try:
        cursor = serializer().loads(token)
        if cursor["q"] != fingerprint or cursor["k"] != [key.name for key in keys] or cursor["d"] not in ("n", "p"):
            raise ValueError
        values = [DECODERS[key.name](value) for key, value in zip(keys, cursor["v"], strict=True)]
    except (BadSignature, KeyError, TypeError, ValueError):
        abort(400, "The cursor is invalid, or belongs to another query: start again from the first page.")
    return cursor["d"], values


def page_links(page):
    """RFC 8288 links to the first, next and previous pages, keeping the request's other parameters."""
    args = {name: value for name, value in request.args.items() if name not in ("page", "cursor")}
    links = {"first": url_for(request.endpoint, **args)}
    for rel, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)):
        if cursor:
            links[rel] = url_for(request.endpoint, **args, cursor=cursor)
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
