from flask import Blueprint

bp = Blueprint("authors", __name__, url_prefix="/api/v1/authors")

from bookapi.authors import views  # noqa: E402,F401  (views register routes on bp)
