from marshmallow import fields, validate

from bookapi.accounts.models import ROLES, User
from bookapi.accounts.schemas import UserSchema
from bookapi.listing.arguments import ListArgsSchema, list_arguments, page_of, part_of
from bookapi.users.queries import USER_LIST


class UserListArgsSchema(ListArgsSchema):
    role = fields.String(validate=validate.OneOf(ROLES), metadata={"description": "Only accounts with this role."})
    is_active = fields.Boolean(truthy={"true"}, falsy={"false"}, metadata={
        "description": "`true`: only active accounts; `false`: only deactivated ones.",
    })
    q = part_of("email", User.email.type.length, "Part of the email, ignoring case, with three letters or digits in "
                                                 "a row (else 422); `%` and `_` are literal.")


user_list_args_schema = list_arguments(
    UserListArgsSchema, USER_LIST, UserSchema, sort_example="-created_at", fields_example="id,email,role"
)()
user_page_schema = page_of(UserSchema)()
