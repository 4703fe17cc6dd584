from flask import Blueprint

bp = Blueprint("users", __name__, url_prefix="/api/v1/users")

from bookapi.users import views  # noqa: E402,F401  (views register routes on bp)
