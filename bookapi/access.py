"""Who may call each view: declared on the view, next to its route, and enforced before it runs.

Deny by default: a view that declares no rule is refused, so a route added without thought is closed, not open
(and a test walks the URL map so that none ships that way).
"""
from dataclasses import dataclass

from flask import abort, current_app, request

ROLE_RANK = {"user": 0, "editor": 1, "admin": 2}
EXTENSION = "bookapi.access"


@dataclass(frozen=True)
class Access:
    login: bool = False
    role: str | None = None

    @property
    def denial(self):
        return f"{self.role.capitalize()} role required"


PUBLIC = Access()
SIGNED_IN = Access(login=True)


def declare(access):
    def mark(view):
        view.access = access
        return view

    return mark


public = declare(PUBLIC)
login_required = declare(SIGNED_IN)


def requires_role(role):
    """Signed in with ``role`` or a higher one (user < editor < admin)."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")
    return declare(Access(login=True, role=role))


def access_of(view):
    return getattr(view, "access", None)


def rule_of(app, endpoint):
    """The access rule of an endpoint: its view's own, or one declared for an extension's view."""
    return access_of(app.view_functions[endpoint]) or app.extensions[EXTENSION].get(endpoint)


def authorize():
    """Before each request: authenticate and check the role when the view asks for them; refuse undeclared views."""
    # The objects behind Flask's proxies, looked up once: each attribute read through a proxy costs a lookup.
    current, app = request._get_current_object(), current_app._get_current_object()
    endpoint = current.endpoint
    view = app.view_functions.get(endpoint) if endpoint else None
    # Routing errors answer for themselves; preflights carry no credentials and are CORS's to answer.
    if view is None or current.method == "OPTIONS":
        return
    access = access_of(view) or app.extensions[EXTENSION].get(endpoint)
    if access is None:
        abort(403, "This route declares no access rule, so it is closed.")
    if access.login:
        # Imported here: the accounts package declares its own views' access with this module.
        from bookapi.accounts.tokens import authenticated_user

        user = authenticated_user()
        if access.role is not None and ROLE_RANK[user.role] < ROLE_RANK[access.role]:
            abort(403, access.denial)


def declare_extension_views(app, prefixes):
    """Declare public the views an extension registered (the docs, say), whose functions are not ours to mark."""
    for endpoint, view in app.view_functions.items():
        if endpoint.startswith(prefixes) and access_of(view) is None:
            app.extensions[EXTENSION][endpoint] = PUBLIC


def init_app(app):
    app.extensions[EXTENSION] = {}
    app.before_request(authorize)
