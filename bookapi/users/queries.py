"""Named queries over accounts for the admins: the accounts' list, declared for the list machinery."""
from sqlalchemy import bindparam

from bookapi.accounts.models import User
from bookapi.listing.collection import Collection, Filter, contains
from bookapi.listing.pages import find_page

# What an admin sees of an account (UserSchema): never its password hash or token version.
USER_LIST = Collection(
    table=User.__table__,
    columns=(User.id, User.email, User.role, User.is_active, User.display_name, User.created_at),
    sort_keys={"email": User.email, "created_at": User.created_at, "id": User.id},
    filters={
        "role": Filter(User.role == bindparam("role")),
        "is_active": Filter(User.is_active == bindparam("is_active")),
        "q": contains(User.email, "q"),
    },
)


def find_users(args, count_cap):
    """One page of the accounts ``args`` select, by offset page or by cursor."""
    return find_page(USER_LIST, args, count_cap)
