from marshmallow import fields, validate

from bookapi.fields import Text
from bookapi.listing.arguments import ListArgsSchema, list_arguments, page_of
from bookapi.records import RecordSchema
from bookapi.reviews.queries import BOOK_REVIEWS


class ReviewerSchema(RecordSchema):
    """Who wrote a review, as every reader may see them: never their email."""

    id = fields.Integer()
    display_name = fields.String(allow_none=True)


class ReviewSchema(RecordSchema):
    id = fields.Integer(dump_only=True)
    book_id = fields.Integer(required=True, strict=True, metadata={"format": "int64"})
    user_id = fields.Integer(dump_only=True, metadata={"description": "The reviewer's account."})
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5), metadata={
        "description": "A whole number of stars from 1 to 5 (a JSON integer, not a string or a fraction).",
    })
    comment = Text(multiline=True, allow_none=True, validate=validate.Length(max=5_000), metadata={
        "description": "Up to 5,000 characters as sent, no control characters but tab, CR and LF; surrounding "
                       "whitespace is trimmed; `null` for none.",
    })
    reviewer = fields.Nested(ReviewerSchema, dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class ReviewListArgsSchema(ListArgsSchema):
    """A book's reviews take no filters of their own: the book is the path's."""


review_schema = ReviewSchema()
# A review stays with its book: only the rating and the comment change.
review_update_schema = ReviewSchema(partial=True, dump_only=("book_id",))
review_list_args_schema = list_arguments(
    ReviewListArgsSchema, BOOK_REVIEWS, ReviewSchema, sort_example="-rating,-created_at", fields_example="id,rating"
)()
review_page_schema = page_of(ReviewSchema)()
