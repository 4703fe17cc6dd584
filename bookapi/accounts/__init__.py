from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


def init_app(app):
    # The views are imported here, not when the package is: a package's models can then be imported anywhere
    # (another resource's queries, a test) without importing every view module behind them.
    from bookapi.accounts import views  # noqa: F401  (views register routes on bp)

    app.register_blueprint(bp)
