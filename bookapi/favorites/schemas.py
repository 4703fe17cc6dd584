from marshmallow import fields

from bookapi.books.schemas import book_schema
from bookapi.favorites.queries import USER_FAVORITES
from bookapi.listing.arguments import ListArgsSchema, list_arguments, page_of
from bookapi.records import RecordSchema
from bookapi.resources import MessageSchema


class FavoriteSchema(RecordSchema):
    id = fields.Integer()
    book_id = fields.Integer()
    created_at = fields.AwareDateTime()
    book = fields.Nested(book_schema)


class FavoriteAddedSchema(MessageSchema):
    id = fields.Integer(metadata={"description": "The favorite's id."})
    book_id = fields.Integer()


class FavoriteListArgsSchema(ListArgsSchema):
    """The caller's favorites take no filters: the reader is the one signed in."""


favorite_added_schema = FavoriteAddedSchema()
favorite_list_args_schema = list_arguments(
    FavoriteListArgsSchema, USER_FAVORITES, FavoriteSchema, sort_example="created_at", fields_example="book_id,book"
)()
favorite_page_schema = page_of(FavoriteSchema)()
