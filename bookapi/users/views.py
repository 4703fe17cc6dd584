from bookapi.access import requires_role
from bookapi.accounts.schemas import account_status_schema, role_schema, user_schema
from bookapi.accounts.service import change_user, get_user_or_404
from bookapi.openapi import operation
from bookapi.payloads import PATCH_TYPES, json_object
from bookapi.users import bp


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
