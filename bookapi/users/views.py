from bookapi.access import requires_role
from bookapi.accounts.schemas import account_status_schema, role_schema, user_schema
from bookapi.accounts.service import change_user, get_user_or_404
from bookapi.listing.responses import list_operation, list_response
from bookapi.openapi import operation
from bookapi.payloads import PATCH_TYPES, json_object
from bookapi.users import bp
from bookapi.users.queries import find_users
from bookapi.users.schemas import user_list_args_schema, user_page_schema


@bp.get("")
@requires_role("admin")
@list_operation(user_list_args_schema, user_page_schema)
def list_users():
    """Find accounts: filter by role, status or part of the email, sort, and page by offset or by cursor."""
    return list_response(find_users, user_list_args_schema, user_page_schema)


@bp.get("/<int:user_id>")
@requires_role("admin")
@operation(response=user_schema)
def get_user(user_id):
    """Read an account."""
    return user_schema.dump(get_user_or_404(user_id))


@bp.patch("/<int:user_id>/role")
@requires_role("admin")
@operation(body=role_schema, response=user_schema, media_types=PATCH_TYPES)
def set_role(user_id):
    """Give an account another role; takes effect on its next request."""
    return user_schema.dump(change_user(user_id, **role_schema.load(json_object(PATCH_TYPES))))


@bp.patch("/<int:user_id>")
@requires_role("admin")
@operation(body=account_status_schema, response=user_schema, media_types=PATCH_TYPES)
def patch_user(user_id):
    """Activate or deactivate an account, or change its display name; deactivation signs it out everywhere."""
    return user_schema.dump(change_user(user_id, **account_status_schema.load(json_object(PATCH_TYPES))))
