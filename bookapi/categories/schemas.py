from marshmallow import validate

from bookapi.categories.statements import CATEGORY_LIST
from bookapi.fields import Text
from bookapi.linked_books import LinkedItemSchema, with_books
from bookapi.listing.arguments import ListArgsSchema, list_arguments, name_like, page_of


class CategorySchema(LinkedItemSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=100), metadata={
        "description": "1–100 characters as sent, not blank, no control characters, unique ignoring case; "
                       "surrounding whitespace is trimmed.",
    })
    description = Text(multiline=True, allow_none=True, validate=validate.Length(max=10_000), metadata={
        "description": "Up to 10,000 characters as sent, no control characters but tab, CR and LF; surrounding "
                       "whitespace is trimmed.",
    })


class CategoryListArgsSchema(ListArgsSchema):
    q = name_like(100)


category_schema = with_books(CategorySchema, "category_id")()
category_body_schema = CategorySchema()
category_update_schema = CategorySchema(partial=True)
category_list_args_schema = list_arguments(
    CategoryListArgsSchema, CATEGORY_LIST, CategorySchema, sort_example="name", fields_example="id,name,book_count"
)()
category_page_schema = page_of(CategorySchema)()
