"""What every resource does with one of its items: find it or 404, answer with its representation and validators,
change or delete it under If-Match, and say so in a message."""
from flask import abort, jsonify
from marshmallow import fields

from bookapi import reads
from bookapi.caching import conditional, entity_tag, require_current
from bookapi.extensions import db
from bookapi.records import RecordSchema

# Ids are bigints: a larger one in a path names nothing, and is a 404 rather than an error from the database.
MAX_ID = 2**63 - 1


class MessageSchema(RecordSchema):
    message = fields.String()


message_schema = MessageSchema()


def get_or_404(model, item_id, detail, for_update=False):
    """The mapped item, row-locked until commit when it is about to change (so If-Match cannot race); else 404."""
    item = db.session.get(model, item_id, with_for_update=for_update) if 0 < item_id <= MAX_ID else None
    if item is None:
        abort(404, detail)
    return item


def row_or_404(statement, parameters, detail):
    """The first row a read finds, as a dict; else 404."""
    found = reads.records(statement, parameters)
    if not found:
        abort(404, detail)
    return found[0]


def id_or_404(item_id, detail):
    """``item_id`` when an item could have it; else 404."""
    if not 0 < item_id <= MAX_ID:
        abort(404, detail)
    return item_id


def tagged(item, schema, status=200, headers=None):
    """An item's representation with the validators a following conditional request will need."""
    response = jsonify(schema.dump(item))
    response.status_code = status
    response.headers.extend(headers or {})
    response.set_etag(entity_tag(response.get_data()))
    response.last_modified = item.updated_at
    return response


def representation(row, schema):
    """A read of one item: ``row`` (as ``row_or_404`` finds it) dumped with ``schema``, with its strong ETag and
    Last-Modified, the client's preconditions answered."""
    return conditional(jsonify(schema.dump(row)), last_modified=row["updated_at"])


def change(item, changes, schema):
    """Set ``changes`` on ``item`` (locked by ``get_or_404(..., for_update=True)``) if the client's If-Match
    holds, commit, and answer with its new representation."""
    require_current(item, schema)
    for field, value in changes.items():
        setattr(item, field, value)
    db.session.commit()
    return tagged(item, schema)


def delete(item, schema, message):
    """Delete ``item`` (locked) if the client's If-Match holds, commit, and answer with ``message``."""
    require_current(item, schema)
    db.session.delete(item)
    db.session.commit()
    return message_schema.dump({"message": message})
