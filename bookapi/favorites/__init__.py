from flask import Blueprint

bp = Blueprint("favorites", __name__, url_prefix="/api/v1")

from bookapi.favorites import views  # noqa: E402,F401  (views register routes on bp)
