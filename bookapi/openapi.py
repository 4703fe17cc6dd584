"""The OpenAPI 3 document, built from the routes and the marshmallow schemas they load and dump."""
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from bookapi import __version__

PATH_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")
ERRORS = {
    400: "The request is malformed (or, on writes, the ISBN is already in the catalogue).",
    404: "No such resource.",
    413: "The body is larger than the configured limit.",
    415: "The body is not application/json.",
    422: "The request is well formed but its values are invalid; `errors` names each field.",
    500: "An unexpected error; the body carries a request id to quote.",
    503: "The database is unreachable or too slow; retry after `Retry-After` seconds.",
}


class ProblemSchema(Schema):
    """An RFC 9457 problem document; every error response has this shape."""

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Not Found"})
    status = fields.Integer(metadata={"example": 404})
    detail = fields.String(metadata={"example": "Book with id 7 not found"})
    instance = fields.String(metadata={"example": "/api/v1/books/7"})
    request_id = fields.String()
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "Validation messages by field (422 only)."},
    )


def operation(*, args=None, body=None, response=None, status=200, database=True):
    """Describe a view for the OpenAPI document; the view's docstring gives the summary.

    The error responses follow from what the view takes: query args can be invalid (422), a body can be
    malformed, too large, of the wrong type or invalid (400, 413, 415, 422), a path id can miss (404).
    """

    def describe(view):
        errors = {500} | ({503} if database else set())
        if args is not None:
            errors |= {422}
        if body is not None:
            errors |= {400, 413, 415, 422}
        view.openapi = {"args": args, "body": body, "response": response, "status": status, "errors": errors}
        return view

    return describe


def schema_name(schema):
    name = (schema if isinstance(schema, type) else type(schema)).__name__.removesuffix("Schema")
    return name + "Update" if getattr(schema, "partial", False) else name


def build_spec(app):
    spec = APISpec(
        title="Book Store API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
        info={"description": "A catalogue of books: create, list, read, update and delete."},
    )
    spec.components.schema("Problem", schema=ProblemSchema)
    for code, description in ERRORS.items():
        spec.components.response(str(code), problem_response(description, code))
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        meta = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if meta is None:
            continue
        (method,) = rule.methods - {"HEAD", "OPTIONS"}
        view = app.view_functions[rule.endpoint]
        spec.path(
            path=PATH_PARAMETER.sub(r"{\2}", rule.rule),
            operations={method.lower(): describe_operation(rule, view, meta)},
        )
    return spec.to_dict()


def problem_response(description, code):
    response = {"description": description, "content": {"application/problem+json": {"schema": "Problem"}}}
    if code == 503:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    return response


def describe_operation(rule, view, meta):
    operation = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": (view.__doc__ or "").strip().splitlines()[0],
        "tags": [rule.endpoint.split(".")[0]],
        "responses": {str(meta["status"]): {"description": "Success."}},
        "parameters": [
            {"in": "path", "name": name, "required": True, "schema": {"type": "integer", "format": "int64"}}
            for converter, name in PATH_PARAMETER.findall(rule.rule)
        ],
    }
    if meta["response"] is not None:
        operation["responses"][str(meta["status"])]["content"] = {"application/json": {"schema": meta["response"]}}
    if meta["status"] == 201:
        operation["responses"]["201"]["headers"] = {
            "Location": {"schema": {"type": "string"}, "description": "The new resource's URL."}
        }
    if meta["args"] is not None:
        operation["parameters"].append({"in": "query", "schema": meta["args"]})
    if meta["body"] is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": meta["body"]}}}
    errors = meta["errors"] | ({404} if operation["parameters"] else set())
    for code in sorted(errors):
        operation["responses"][str(code)] = {"$ref": f"#/components/responses/{code}"}
    return operation
