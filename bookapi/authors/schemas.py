from datetime import datetime, timedelta, timezone

from marshmallow import ValidationError, fields, validate

from bookapi.authors.statements import AUTHOR_LIST
from bookapi.fields import Text
from bookapi.linked_books import LinkedItemSchema, with_books
from bookapi.listing.arguments import ListArgsSchema, list_arguments, name_like, page_of

# Where the date is furthest ahead (UTC+14): a birth date is refused as future only where it is future everywhere.
EARLIEST_ZONE = timezone(timedelta(hours=14))


def not_in_future(day):
    if day > datetime.now(EARLIEST_ZONE).date():
        raise ValidationError("Must not be in the future.")


class AuthorSchema(LinkedItemSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=255), metadata={
        "description": "1–255 characters as sent, not blank, no control characters; surrounding whitespace is "
                       "trimmed.",
    })
    bio = Text(multiline=True, allow_none=True, validate=validate.Length(max=10_000), metadata={
        "description": "Up to 10,000 characters as sent, no control characters but tab, CR and LF; surrounding "
                       "whitespace is trimmed.",
    })
    birth_date = fields.Date(allow_none=True, validate=not_in_future, metadata={
        "description": "ISO date, not in the future.",
    })
    nationality = Text(allow_none=True, validate=validate.Length(max=100), metadata={
        "description": "Up to 100 characters as sent, no control characters; surrounding whitespace is trimmed.",
    })


class AuthorListArgsSchema(ListArgsSchema):
    q = name_like(255)


author_schema = with_books(AuthorSchema, "author_id")()
author_body_schema = AuthorSchema()
author_update_schema = AuthorSchema(partial=True)
author_list_args_schema = list_arguments(
    AuthorListArgsSchema, AUTHOR_LIST, AuthorSchema, sort_example="-book_count", fields_example="id,name,book_count"
)()
author_page_schema = page_of(AuthorSchema)()
