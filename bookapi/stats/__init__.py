from flask import Blueprint

bp = Blueprint("stats", __name__, url_prefix="/api/v1/stats")

from bookapi.stats import views  # noqa: E402,F401  (views register routes on bp)
