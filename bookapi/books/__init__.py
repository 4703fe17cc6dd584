from flask import Blueprint

bp = Blueprint("books", __name__, url_prefix="/api/v1/books")

from bookapi.books import views  # noqa: E402,F401  (views register routes on bp)
