from flask import Blueprint

bp = Blueprint("reviews", __name__, url_prefix="/api/v1")

from bookapi.reviews import views  # noqa: E402,F401  (views register routes on bp)
