from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bookapi.fields import Isbn, Text

NAME = validate.Length(min=1, max=255)


class BookSchema(Schema):
    id = fields.Integer(dump_only=True)
    title = Text(required=True, validate=NAME)
    author = Text(required=True, validate=NAME)
    isbn = Isbn(required=True, metadata={
        "format": "isbn",
        "example": "978-0-306-40615-7",
        "description": "ISBN-10 or ISBN-13, hyphens and spaces allowed; the check digit must be right.",
    })
    isbn13 = fields.String(dump_only=True, metadata={"example": "9780306406157"})
    published_date = fields.Date(required=True)
    description = Text(allow_none=True, validate=validate.Length(max=10_000))
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class BookListArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    count = fields.String(
        load_default="estimate",
        validate=validate.OneOf(["estimate", "exact"]),
        metadata={"description": "`exact` counts every matching row; `estimate` stops counting at a cap."},
    )

    @validates_schema
    def page_within_reach(self, data, **kwargs):
        max_offset = current_app.config["LIST_MAX_OFFSET"]
        if (data["page"] - 1) * data["size"] >= max_offset:
            raise ValidationError(
                f"Offset pages end after {max_offset} rows; narrow the query or use cursor pagination.", "page"
            )


class BookPageSchema(Schema):
    items = fields.List(fields.Nested(BookSchema))
    page = fields.Integer()
    size = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()
    total_is_estimate = fields.Boolean()


class MessageSchema(Schema):
    message = fields.String()


book_schema = BookSchema()
book_update_schema = BookSchema(partial=True)
book_list_args_schema = BookListArgsSchema()
book_page_schema = BookPageSchema()
message_schema = MessageSchema()
