import re

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bookapi.books.statements import MAX_CURSOR_LENGTH, SEARCH_MAX_LENGTH
from bookapi.fields import CommaSeparated, EachItem, Isbn, JsonBoolean, Text
from bookapi.records import RecordSchema

NAME = validate.Length(min=1, max=255)
NAME_RULES = "1–255 characters as sent, not blank, no control characters; surrounding whitespace is trimmed."
SORT_KEYS = ("title", "author", "published_date", "created_at", "id")
# Three letters or digits in a row: the trigram index finds a part of a title by such trigrams, and a part without
# one would be looked for in every title.
TITLE_TRIGRAM = re.compile(r"[^\W_]{3}")


def has_a_trigram(value):
    if not TITLE_TRIGRAM.search(value):
        raise ValidationError("Must contain three letters or digits in a row, which the title index can look up.")


class BookSchema(RecordSchema):
    id = fields.Integer(dump_only=True)
    title = Text(required=True, validate=NAME, metadata={"description": NAME_RULES})
    author = Text(required=True, validate=NAME, metadata={"description": NAME_RULES})
    isbn = Isbn(required=True, metadata={
        "format": "isbn",
        "example": "978-0-306-40615-7",
        "description": "ISBN-10 or ISBN-13, hyphens and spaces allowed; the check digit must be right.",
    })
    isbn13 = fields.String(dump_only=True, metadata={"example": "9780306406157"})
    published_date = fields.Date(required=True)
    description = Text(multiline=True, allow_none=True, validate=validate.Length(max=10_000), metadata={
        "description": "Up to 10,000 characters as sent, no control characters but tab, CR and LF; surrounding "
                       "whitespace is trimmed.",
    })
    created_by = fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "The id of the account that added the book, while that account exists.",
    })
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


BOOK_FIELDS = tuple(BookSchema().dump_fields)


class BookListArgsSchema(Schema):
    page = fields.Integer(validate=validate.Range(min=1), metadata={
        "description": "Offset page, from 1, for shallow pages; deeper pages follow `next_cursor`.",
    })
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    # The length limit is the longest cursor the service makes; a longer one is refused with the other bad
    # cursors (400), not as a schema violation.
    cursor = fields.String(metadata={
        "description": "`next_cursor` or `prev_cursor` of a previous page of the same query. A cursor that is "
                       "too long, malformed, tampered with, or another query's is refused with 400.",
        "maxLength": MAX_CURSOR_LENGTH,
    })
    count = fields.String(
        load_default="estimate",
        validate=validate.OneOf(["estimate", "exact"]),
        metadata={"description": "`exact` counts every matching row; `estimate` stops counting at a cap."},
    )
    q = Text(validate=validate.Length(min=1, max=SEARCH_MAX_LENGTH), metadata={
        "description": 'Full-text search over title, author and description, web-search syntax ("phrase", '
                       "-exclude, or), tolerant of misspelt words; ranked by relevance unless `sort` is given. "
                       "422 for a search of only common words (the, of, …), or with no word that every match "
                       "contains (only -excluded words, alone or in an `or`).",
    })
    author = Text(validate=NAME, metadata={"description": "Exact author, ignoring case."})
    title = Text(validate=[validate.Length(max=255), has_a_trigram], metadata={
        "description": "Part of the title, ignoring case, with three letters or digits in a row (else 422).",
        "minLength": 3,
    })
    isbn = Isbn(metadata={"description": "ISBN-10 or ISBN-13 in any spelling."})
    published_after = fields.Date(metadata={"description": "Published on or after this date."})
    published_before = fields.Date(metadata={"description": "Published on or before this date."})
    sort = CommaSeparated(SORT_KEYS, signed=True, metadata={
        "description": f"Comma-separated keys from {', '.join(SORT_KEYS)}; `-` before a key sorts descending.",
        "example": "-published_date,title",
    })
    fields = CommaSeparated(BOOK_FIELDS, metadata={
        "description": f"Comma-separated fields to return, from {', '.join(BOOK_FIELDS)}.",
        "example": "id,title,isbn13",
    })

    @validates_schema
    def page_or_cursor(self, data, **kwargs):
        if "page" in data and "cursor" in data:
            raise ValidationError("Send page or cursor, not both.", "page")
        max_offset = current_app.config["LIST_MAX_OFFSET"]
        if (data.get("page", 1) - 1) * data["size"] >= max_offset:
            raise ValidationError(
                f"Offset pages end after {max_offset} rows; follow next_cursor to go deeper.", "page"
            )

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        if data.get("published_after") and data.get("published_before"):
            if data["published_after"] > data["published_before"]:
                raise ValidationError("Must not be later than published_before.", "published_after")


class ListedBookSchema(BookSchema):
    """A book in a list page: `fields` may leave any of its fields out."""

    openapi_name = "ListedBook"


class BookPageSchema(RecordSchema):
    items = fields.Nested(ListedBookSchema(partial=True), many=True)
    page = fields.Integer(allow_none=True, metadata={"description": "Null when the page was reached by cursor."})
    size = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer(allow_none=True)
    total_is_estimate = fields.Boolean()
    next_cursor = fields.String(allow_none=True)
    prev_cursor = fields.String(allow_none=True)


class BulkArgsSchema(Schema):
    items = EachItem(BookSchema(), required=True, validate=validate.Length(min=1, max=1000), metadata={
        "description": "Books, each shaped as a `Book`; a bad one is reported in its result (or, if atomic, "
                       "rejects the request). More than 1,000 are refused before any is read.",
    })
    atomic = JsonBoolean(load_default=True, metadata={
        "description": "All or nothing (default); false stores the valid items and reports the others.",
    })


class BulkItemResultSchema(RecordSchema):
    index = fields.Integer()
    status = fields.Integer()
    book = fields.Nested(BookSchema, allow_none=True)
    problem = fields.Dict(allow_none=True)


class BulkResultSchema(RecordSchema):
    created = fields.Integer()
    rejected = fields.Integer()
    items = fields.List(fields.Nested(BulkItemResultSchema))


class IsbnArgsSchema(Schema):
    isbn = Isbn(required=True, metadata={"description": "ISBN-10 or ISBN-13, hyphens and spaces allowed."})


class MessageSchema(RecordSchema):
    message = fields.String()


book_schema = BookSchema()
book_update_schema = BookSchema(partial=True)
book_list_args_schema = BookListArgsSchema()
book_page_schema = BookPageSchema()
bulk_args_schema = BulkArgsSchema()
bulk_result_schema = BulkResultSchema()
isbn_args_schema = IsbnArgsSchema()
message_schema = MessageSchema()
