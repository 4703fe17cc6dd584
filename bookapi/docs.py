"""API documentation: the OpenAPI document, Swagger UI (through flasgger) and ReDoc, all served offline."""
from pathlib import Path

import openapi_ui_bundles.redoc
import swagger_ui
from flask import Blueprint, render_template, send_from_directory

from bookapi.access import declare_extension_views, public
from bookapi.extensions import swagger
from bookapi.openapi import build_spec

SWAGGER_UI_ASSETS = Path(swagger_ui.__file__).parent / "static"
REDOC_ASSETS = openapi_ui_bundles.redoc.static_path

bp = Blueprint("docs", __name__)


@bp.get("/docs/redoc/<path:filename>")
@public
def redoc_asset(filename):
    return send_from_directory(REDOC_ASSETS, filename, max_age=86400)


@bp.get("/redoc")
@public
def redoc():
    return render_template("docs/redoc.html")


def init_app(app):
    """Serve the docs; call after every API blueprint is registered, as the spec is built from them."""
    app.register_blueprint(bp)
    app.config["SWAGGER"] = {
        "openapi": "3.0.3",
        "title": "Book Store API",
        "specs_route": "/apidocs/",
        # flasgger's own assets are an old Swagger UI: serve the current one in their place.
        "static_folder": str(SWAGGER_UI_ASSETS),
        "static_url_path": "/apidocs/static",
        "specs": [{
            "endpoint": "openapi",
            "route": "/openapi.json",
            "rule_filter": lambda rule: False,
            "model_filter": lambda tag: False,
        }],
    }
    swagger.template = build_spec(app)
    swagger.init_app(app)
    declare_extension_views(app, ("flasgger.", "static"))
