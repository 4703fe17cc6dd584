from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bookapi.books.search import SEARCH_MAX_LENGTH
from bookapi.books.statements import BOOK_LIST
from bookapi.fields import EachItem, Isbn, JsonBoolean, Text
from bookapi.listing.arguments import ListArgsSchema, list_arguments, page_of, part_of
from bookapi.records import RecordSchema

NAME = validate.Length(min=1, max=255)
NAME_RULES = "1–255 characters as sent, not blank, no control characters; surrounding whitespace is trimmed."


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


class BookListArgsSchema(ListArgsSchema):
    q = Text(validate=validate.Length(min=1, max=SEARCH_MAX_LENGTH), metadata={
        "description": 'Full-text search over title, author and description, web-search syntax ("phrase", '
                       "-exclude, or), tolerant of misspelt words; ranked by relevance unless `sort` is given. "
                       "422 for a search of only common words (the, of, …), or with no word that every match "
                       "contains (only -excluded words, alone or in an `or`).",
    })
    author = Text(validate=NAME, metadata={"description": "Exact author, ignoring case."})
    title = part_of("title", 255, "Part of the title, ignoring case, with three letters or digits in a row (else 422).")
    isbn = Isbn(metadata={"description": "ISBN-10 or ISBN-13 in any spelling."})
    published_after = fields.Date(metadata={"description": "Published on or after this date."})
    published_before = fields.Date(metadata={"description": "Published on or before this date."})

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        if data.get("published_after") and data.get("published_before"):
            if data["published_after"] > data["published_before"]:
                raise ValidationError("Must not be later than published_before.", "published_after")


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


book_schema = BookSchema()
book_update_schema = BookSchema(partial=True)
book_list_args_schema = list_arguments(
    BookListArgsSchema, BOOK_LIST, BookSchema, sort_example="-published_date,title", fields_example="id,title,isbn13"
)()
book_page_schema = page_of(BookSchema)()
bulk_args_schema = BulkArgsSchema()
bulk_result_schema = BulkResultSchema()
isbn_args_schema = IsbnArgsSchema()
