"""The schemas of a list: the arguments every list takes, a collection's own, and the page envelope."""
import re

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bookapi.fields import CommaSeparated, Text
from bookapi.records import RecordSchema

# Three letters or digits in a row: a trigram index finds a part of a text by such trigrams, and a part without
# one would be looked for in every row.
TRIGRAM = re.compile(r"[^\W_]{3}")


def trigram_lookup(index):
    """A validator: the value holds a trigram that the ``index`` trigram index can look up."""

    def has_a_trigram(value):
        if not TRIGRAM.search(value):
            raise ValidationError(f"Must contain three letters or digits in a row, which the {index} index can "
                                  "look up.")

    return has_a_trigram


def part_of(index, max_length, description):
    """An argument for a part of a text, ignoring case, which its trigram index looks up (else 422)."""
    return Text(validate=[validate.Length(max=max_length), trigram_lookup(index)], metadata={
        "description": description, "minLength": 3,
    })


def name_like(max_length):
    """An argument for a search of names by a part like it (see ``collection.resembling``)."""
    return Text(validate=validate.Length(min=1, max=max_length), metadata={
        "description": "Names with a part like this, tolerant of typos (trigram word similarity); ranked by that "
                       "similarity unless `sort` is given.",
    })


class ListArgsSchema(Schema):
    """What every list takes: a collection's schema adds its filters (``list_arguments`` then adds its cursor
    limit, sort keys and fields)."""

    page = fields.Integer(validate=validate.Range(min=1), metadata={
        "description": "Offset page, from 1, for shallow pages; deeper pages follow `next_cursor`.",
    })
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String()
    count = fields.String(
        load_default="estimate",
        validate=validate.OneOf(["estimate", "exact"]),
        metadata={"description": "`exact` counts every matching row; `estimate` stops counting at a cap."},
    )

    @validates_schema
    def page_or_cursor(self, data, **kwargs):
        if "page" in data and "cursor" in data:
            raise ValidationError("Send page or cursor, not both.", "page")
        max_offset = current_app.config["LIST_MAX_OFFSET"]
        if (data.get("page", 1) - 1) * data["size"] >= max_offset:
            raise ValidationError(
                f"Offset pages end after {max_offset} rows; follow next_cursor to go deeper.", "page"
            )


def list_arguments(filters_schema, collection, item_schema, sort_example, fields_example):
    """The arguments schema of ``collection``'s list: ``filters_schema`` (a ``ListArgsSchema`` with its filters),
    with the cursor limit, the sort keys, and the fields of ``item_schema`` a page may be cut to."""
    sort_keys, item_fields = collection.sortable, tuple(item_schema().dump_fields)
    default_sort = {"default": ",".join(collection.default_sort)} if collection.default_sort else {}
    # The length limit is the longest cursor the collection makes; a longer one is refused with the other bad
    # cursors (400), not as a schema violation.
    return type(filters_schema.__name__, (filters_schema,), {
        "cursor": fields.String(metadata={
            "description": "`next_cursor` or `prev_cursor` of a previous page of the same query. A cursor that is "
                           "too long, malformed, tampered with, or another query's is refused with 400.",
            "maxLength": collection.max_cursor_length,
        }),
        "sort": CommaSeparated(sort_keys, signed=True, metadata={
            "description": f"Comma-separated keys from {', '.join(sort_keys)}; `-` before a key sorts descending.",
            "example": sort_example,
            **default_sort,
        }),
        "fields": CommaSeparated(item_fields, metadata={
            "description": f"Comma-separated fields to return, from {', '.join(item_fields)}.",
            "example": fields_example,
        }),
    })


def page_of(item_schema):
    """The page envelope of ``item_schema``'s items, any of whose fields `fields` may leave out."""
    name = item_schema.__name__.removesuffix("Schema")
    listed = type(f"Listed{name}Schema", (item_schema,), {"openapi_name": f"Listed{name}"})
    return type(f"{name}PageSchema", (RecordSchema,), {
        "items": fields.Nested(listed(partial=True), many=True),
        "page": fields.Integer(allow_none=True, metadata={"description": "Null when the page was reached by cursor."}),
        "size": fields.Integer(),
        "total": fields.Integer(),
        "pages": fields.Integer(allow_none=True),
        "total_is_estimate": fields.Boolean(),
        "next_cursor": fields.String(allow_none=True),
        "prev_cursor": fields.String(allow_none=True),
    })
