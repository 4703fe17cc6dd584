from flask import Blueprint

bp = Blueprint("categories", __name__, url_prefix="/api/v1/categories")

from bookapi.categories import views  # noqa: E402,F401  (views register routes on bp)
