from marshmallow import Schema, fields, validate, validates_schema

from bookapi.accounts.models import ROLES
from bookapi.accounts.passwords import MAX_LENGTH, check_password
from bookapi.fields import Email, JsonBoolean, Text
from bookapi.records import RecordSchema

DISPLAY_NAME = validate.Length(min=1, max=100)
# A login checks the password it is given, whatever the policy said when it was set; only its size is bounded.
PASSWORD = fields.String(required=True, load_only=True, validate=validate.Length(max=MAX_LENGTH * 4))


class UserSchema(RecordSchema):
    """An account as its owner and the admins see it; never its password or its hash."""

    id = fields.Integer(dump_only=True)
    email = fields.String(dump_only=True, metadata={"example": "reader@example.com"})
    role = fields.String(dump_only=True, metadata={"enum": list(ROLES)})
    is_active = fields.Boolean(dump_only=True)
    display_name = fields.String(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)


class RegisterSchema(Schema):
    email = Email(required=True)
    password = fields.String(required=True, load_only=True, metadata={
        "description": "12 to 128 characters, not a common password, not containing the email's local part.",
    })
    display_name = Text(validate=DISPLAY_NAME)

    @validates_schema
    def password_policy(self, data, **kwargs):
        if "email" in data and "password" in data:
            check_password(data["password"], data["email"])


class LoginSchema(Schema):
    # Not checked as an address (an unknown email is a 401 like a wrong password), but it must be storable text:
    # PostgreSQL refuses a NUL character in a query parameter.
    email = Text(required=True, validate=validate.Length(max=320))
    password = PASSWORD


class TokenSchema(RecordSchema):
    access_token = fields.String()
    token_type = fields.String(metadata={"example": "bearer"})
    expires_in = fields.Integer(metadata={"description": "Seconds the access token is valid for."})
    refresh_token = fields.String(metadata={"description": "Single use: trade it for a new pair before it expires."})


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=256))


class AccountUpdateSchema(Schema):
    """What a user may change of their own account; email and password need the current password."""

    email = Email()
    password = fields.String(load_only=True, metadata={"description": "The new password (the policy applies)."})
    display_name = Text(allow_none=True, validate=DISPLAY_NAME)
    current_password = fields.String(load_only=True, validate=validate.Length(max=MAX_LENGTH * 4))


class RoleSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class AccountStatusSchema(Schema):
    """What an admin may change of any account besides its role."""

    is_active = JsonBoolean()
    display_name = Text(allow_none=True, validate=DISPLAY_NAME)


user_schema = UserSchema()
register_schema = RegisterSchema()
login_schema = LoginSchema()
token_schema = TokenSchema()
refresh_schema = RefreshSchema()
account_update_schema = AccountUpdateSchema(partial=True)
role_schema = RoleSchema()
account_status_schema = AccountStatusSchema(partial=True)
