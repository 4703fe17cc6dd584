from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

from bookapi.accounts import views  # noqa: E402,F401  (views register routes on bp)
