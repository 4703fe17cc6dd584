from bookapi.access import public, requires_role
from bookapi.categories import bp
from bookapi.categories.queries import CATEGORIES, find_categories
from bookapi.categories.schemas import (
    category_body_schema,
    category_list_args_schema,
    category_page_schema,
    category_schema,
    category_update_schema,
)
from bookapi.idempotency import idempotent
from bookapi.listing.responses import list_operation, list_response
from bookapi.openapi import operation
from bookapi.payloads import PATCH_TYPES, advertise_patch, json_object
from bookapi.resources import message_schema

advertise_patch(bp, "category_id")


@bp.get("")
@public
@list_operation(category_list_args_schema, category_page_schema)
def list_categories():
    """Find categories: by a name like `q`, sorted, paged by offset or by cursor."""
    return list_response(find_categories, category_list_args_schema, category_page_schema)


@bp.post("")
@requires_role("editor")
@idempotent
@operation(body=category_body_schema, response=category_schema, status=201)
def create_category():
    """Add a category; its name must not be taken yet, ignoring case."""
    return CATEGORIES.create(category_body_schema.load(json_object()))


@bp.get("/<int:category_id>")
@public
@operation(response=category_schema, cached=True)
def get_category(category_id):
    """Read a category, with its first 20 books."""
    return CATEGORIES.read(category_id)


@bp.put("/<int:category_id>")
@requires_role("editor")
@operation(body=category_update_schema, response=category_schema, preconditions=True)
def update_category(category_id):
    """Change the fields sent and leave the rest as they are."""
    return CATEGORIES.change(category_id, category_update_schema.load(json_object()))


@bp.patch("/<int:category_id>")
@requires_role("editor")
@operation(body=category_update_schema, response=category_schema, preconditions=True, media_types=PATCH_TYPES)
def patch_category(category_id):
    """Merge-patch a category (RFC 7396): fields sent change, `null` clears the description."""
    return CATEGORIES.change(category_id, category_update_schema.load(json_object(PATCH_TYPES)))


@bp.delete("/<int:category_id>")
@requires_role("admin")
@operation(response=message_schema, preconditions=True)
def delete_category(category_id):
    """Remove a category; its books stay, unlinked from it."""
    return CATEGORIES.delete(category_id)
