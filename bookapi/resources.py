"""What every resource does with one of its items: find it or 404, answer with its representation and validators,
change or delete it under If-Match, and say so in a message.

An item is represented by its mapped object, or, where its representation holds rows of other tables too (an
author's first books, say), by a read of it (``represent(item)``), which its reads and writes answer alike."""
from flask import abort, jsonify
from marshmallow import fields

from bookapi import reads
from bookapi.caching import conditional, entity_tag, last_modified_of, require_current
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
    """The first row a read of an item by its key finds, as a dict; else 404. The statement is prepared: its plan
    cannot depend on which item is read."""
    found = reads.records(statement, parameters, prepare=True)
    if not found:
        abort(404, detail)
    return found[0]


def id_or_404(item_id, detail):
    """``item_id`` when an item could have it; else 404."""
    if not 0 < item_id <= MAX_ID:
        abort(404, detail)
    return item_id


def itself(item):
    return item


def represented_by(statement):
    """``represent(item)`` for items read by ``statement`` (their id bound as ``id``), in the write's transaction."""

    def represent(item):
        return db.session.execute(statement, {"id": item.id}).mappings().one()

    return represent


def tagged(item, schema, status=200, headers=None):
    """An item's representation with the validators a following conditional request will need."""
    response = jsonify(schema.dump(item))
    response.status_code = status
    response.headers.extend(headers or {})
    response.set_etag(entity_tag(response.get_data()))
    response.last_modified = last_modified_of(item)
    return response


def read(record, schema):
    """A read's answer: ``record`` (a row read) dumped with ``schema``, its validators, the client's preconditions
    answered (304, 412)."""
    return conditional(jsonify(schema.dump(record)), last_modified=last_modified_of(record))


def change(item, changes, schema, represent=itself, also=None):
    """Set ``changes`` on ``item`` (locked by ``get_or_404(..., for_update=True)``) if the client's If-Match
    holds, run ``also(item)`` (the resource's other writes, if any), commit, and answer with its new
    representation."""
    require_current(represent(item), schema)
    for field, value in changes.items():
        setattr(item, field, value)
    if also is not None:
        also(item)
    db.session.flush()
    representation = represent(item)
    db.session.commit()
    return tagged(representation, schema)


def delete(item, schema, message, represent=itself, refuse=None):
    """Delete ``item`` (locked) if the client's If-Match holds, and ``refuse(item)``, when given, raises nothing (a
    409 for an item that others still need, say); commit, and answer with ``message``."""
    require_current(represent(item), schema)
    if refuse is not None:
        refuse(item)
    db.session.delete(item)
    db.session.commit()
    return message_schema.dump({"message": message})
