from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from bookapi.books.search import SEARCH_MAX_LENGTH
from bookapi.books.statements import BOOK_LIST
from bookapi.fields import EachItem, Isbn, JsonBoolean, Text
from bookapi.listing.arguments import ListArgsSchema, list_arguments, page_of, part_of
from bookapi.records import RecordSchema
from bookapi.resources import MAX_ID

NAME = validate.Length(min=1, max=255)
NAME_RULES = "1–255 characters as sent, not blank, no control characters; surrounding whitespace is trimmed."
# How many authors and categories one book may have.
MAX_LINKS = 50


def link_ids(description, **kwargs):
    """A list of distinct ids of linked rows, to be written by a request."""
    return fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)), load_only=True,
        validate=[validate.Length(max=MAX_LINKS), distinct], metadata={"description": description}, **kwargs,
    )


def distinct(ids):
    if len(set(ids)) != len(ids):
        raise ValidationError("Each id may appear once.")


class NamedRefSchema(RecordSchema):
    """An author or a category as a book shows it."""

    id = fields.Integer()
    name = fields.String()


class References(fields.List):
    """A book's authors or categories, ``[{id, name}]``. A read has them as the database stores them with the book
    (migration 0009), already in that shape, and writes them as they are; a write's answer has the mapped rows,
    dumped by ``NamedRefSchema``."""

    def __init__(self, **kwargs):
        super().__init__(fields.Nested(NamedRefSchema), dump_only=True, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value and isinstance(value[0], dict):
            return value
        return super()._serialize(value, attr, obj, **kwargs)


class BookSchema(RecordSchema):
    id = fields.Integer(dump_only=True)
    title = Text(required=True, validate=NAME, metadata={"description": NAME_RULES})
    author = Text(validate=NAME, metadata={
        "description": f"The byline. Required unless `author_ids` is sent; then, when left out, it is the authors' "
                       f"names joined with \", \" (cut to 255 characters). {NAME_RULES}",
    })
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
    author_ids = link_ids(f"The book's authors, first author first (up to {MAX_LINKS}); replaces the set. 404 for an "
                          "unknown id, and nothing is stored.")
    category_ids = link_ids(f"The book's categories (up to {MAX_LINKS}); replaces the set. 404 for unknown ids, and "
                            "nothing is stored.")
    authors = References(metadata={"description": "The linked authors, first author first."})
    categories = References(metadata={"description": "The linked categories, by name."})
    average_rating = fields.Float(dump_only=True, allow_none=True, metadata={
        "description": "The mean rating of the book's reviews, to two decimals; null without reviews.",
    })
    review_count = fields.Integer(dump_only=True)
    created_by = fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "The id of the account that added the book, while that account exists.",
    })
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)

    @validates_schema(skip_on_field_errors=False)
    def byline_or_authors(self, data, partial, **kwargs):
        # A schema whose author is required (an import file's) says so once, as that field's own error.
        if not partial and "author" not in data and not data.get("author_ids") and not self.fields["author"].required:
            raise ValidationError("Missing data for required field.", "author")


class CategoryIdsSchema(Schema):
    category_ids = link_ids(f"The book's categories (up to {MAX_LINKS}); `[]` clears them. 404 for unknown ids.",
                            required=True)


class BookListArgsSchema(ListArgsSchema):
    search = Text(metadata={"description": "Another name for `q`; send one of them."})
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
    author_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID), metadata={
        "description": "Only books by this author (one of their linked authors).",
    })
    category_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID), metadata={
        "description": "Only books in this category.",
    })
    category = Text(validate=validate.Length(min=1, max=100), metadata={
        "description": "Only books in the category of this name, ignoring case.",
    })
    min_rating = fields.Float(validate=validate.Range(min=1, max=5), metadata={
        "description": "Only books whose average rating is at least this (1–5); unrated books have none.",
    })

    @pre_load
    def search_is_q(self, data, **kwargs):
        """``search`` is another name for ``q``."""
        if "search" in data:
            if "q" in data:
                raise ValidationError("Send q or search, not both.", "search")
            data = {**data, "q": data["search"]}
            del data["search"]
        return data

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
category_ids_schema = CategoryIdsSchema()
