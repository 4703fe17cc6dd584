from bookapi.access import public, requires_role
from bookapi.authors import bp
from bookapi.authors.queries import AUTHORS, find_authors, refuse_with_books
from bookapi.authors.schemas import (
    author_body_schema,
    author_list_args_schema,
    author_page_schema,
    author_schema,
    author_update_schema,
)
from bookapi.idempotency import idempotent
from bookapi.listing.responses import list_operation, list_response
from bookapi.openapi import operation
from bookapi.payloads import PATCH_TYPES, advertise_patch, json_object
from bookapi.resources import message_schema

advertise_patch(bp, "author_id")


@bp.get("")
@public
@list_operation(author_list_args_schema, author_page_schema)
def list_authors():
    """Find authors: by a name like `q`, sorted, paged by offset or by cursor."""
    return list_response(find_authors, author_list_args_schema, author_page_schema)


@bp.post("")
@requires_role("editor")
@idempotent
@operation(body=author_body_schema, response=author_schema, status=201)
def create_author():
    """Add an author."""
    return AUTHORS.create(author_body_schema.load(json_object()))


@bp.get("/<int:author_id>")
@public
@operation(response=author_schema, cached=True)
def get_author(author_id):
    """Read an author, with their first 20 books."""
    return AUTHORS.read(author_id)


@bp.put("/<int:author_id>")
@requires_role("editor")
@operation(body=author_update_schema, response=author_schema, preconditions=True)
def update_author(author_id):
    """Change the fields sent and leave the rest as they are."""
    return AUTHORS.change(author_id, author_update_schema.load(json_object()))


@bp.patch("/<int:author_id>")
@requires_role("editor")
@operation(body=author_update_schema, response=author_schema, preconditions=True, media_types=PATCH_TYPES)
def patch_author(author_id):
    """Merge-patch an author (RFC 7396): fields sent change, `null` clears an optional one."""
    return AUTHORS.change(author_id, author_update_schema.load(json_object(PATCH_TYPES)))


@bp.delete("/<int:author_id>")
@requires_role("admin")
@operation(response=message_schema, preconditions=True)
def delete_author(author_id):
    """Remove an author who has no books (409 otherwise)."""
    return AUTHORS.delete(author_id, refuse_with_books)
