"""The root document and the health routes a load balancer or orchestrator polls."""
from flask import Blueprint, current_app, url_for
from marshmallow import Schema, fields
from sqlalchemy import text

from bookapi import __version__, limits
from bookapi.access import public
from bookapi.extensions import db
from bookapi.openapi import operation

bp = Blueprint("health", __name__)


class RootSchema(Schema):
    message = fields.String()
    version = fields.String()
    docs = fields.String()
    health = fields.String()


class HealthSchema(Schema):
    status = fields.String()
    service = fields.String()
    version = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())


root_schema = RootSchema()
health_schema = HealthSchema()


@bp.get("/")
@public
@operation(response=root_schema, database=False)
def root():
    """Name the API and point to its docs and health routes."""
    return root_schema.dump({
        "message": "Book Store API", "version": __version__,
        "docs": url_for("flasgger.apidocs"), "health": url_for(".liveness"),
    })


@bp.get("/health")
@public
@operation(response=health_schema, database=False)
def liveness():
    """Report that the process serves requests; touches no dependency."""
    return health_schema.dump({
        "status": "healthy", "service": current_app.config["SERVICE_NAME"], "version": __version__,
    })


@bp.get("/health/ready")
@public
@operation(response=health_schema)
def readiness():
    """Report whether the database answers, so traffic can be routed here; Redis away only degrades the limits."""
    db.session.execute(text("SELECT 1"))
    return health_schema.dump({
        "status": "ready", "service": current_app.config["SERVICE_NAME"], "version": __version__,
        "checks": {"database": "ok", **limits.readiness()},
    })


def init_app(app):
    app.register_blueprint(bp)
