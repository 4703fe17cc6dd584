"""The OpenAPI 3 document, built from the routes and the marshmallow schemas they load and dump."""
import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from bookapi import __version__
from bookapi.access import access_of
from bookapi.idempotency import KEY_HEADER, KEY_PATTERN, MAX_KEY_LENGTH, REPLAYED_HEADER, is_idempotent
from bookapi.limits import policies_of
from bookapi.security import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS

PATH_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")
ERRORS = {
    400: "The request is malformed, a cursor is invalid, the item would duplicate one already stored, or what is "
         "asked may be done once and was (a second review of a book, a favorite again) or not at all (a review of "
         "your own book); `detail` says which.",
    401: "No valid bearer token: `Not authenticated` without one, `Could not validate credentials` for a bad, "
         "expired or revoked one.",
    403: "Signed in, but without the role this operation needs (`detail` names it), the account is inactive, or "
         "the item is another account's (a review only its author may change).",
    404: "No such resource.",
    409: "The change conflicts with data already stored, or lost to concurrent writes twice (a deadlock or a "
         "serialization failure); nothing was stored, and sending it again is safe.",
    412: "If-Match names a version that is no longer current, or (without If-Match) the item changed at or after "
         "the If-Unmodified-Since date.",
    413: "The body is larger than the configured limit, whether sent with a Content-Length or chunked.",
    415: "The body's media type is not accepted here.",
    422: "The request is well formed but its values are invalid; `errors` names each field.",
    428: "If-Match is required (REQUIRE_IF_MATCH) and was not sent.",
    429: "Too many requests under a rate limit; retry after `Retry-After` seconds.",
    500: "An unexpected error; the body carries a request id to quote.",
    503: "The database is unreachable or too slow; retry after `Retry-After` seconds.",
}
# An operation that takes an Idempotency-Key answers these for it too, so it has them in its own words.
IDEMPOTENT_ERRORS = {
    409: f"A request with this {KEY_HEADER} is still being processed (retry once it has finished), or the change "
         "conflicts with data already stored, or lost to concurrent writes twice; nothing was stored.",
    422: f"The values are invalid (`errors` names each field), or this {KEY_HEADER} was used for another request "
         "(another body or another operation).",
}
DESCRIPTION = """A catalogue of books with their authors and categories, reviews, favorites and figures.

Browsers may call it from the origins its operator allows (CORS). Their requests may carry {allowed}; their scripts
may read {exposed}. Every response carries `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
`X-Frame-Options: DENY` and a `Content-Security-Policy` that lets nothing load or run in it; production adds
`Strict-Transport-Security`."""
STRING = {"schema": {"type": "string"}}
BEARER = "bearerAuth"
CACHE_HEADERS = {
    "ETag": {**STRING, "description": "Strong for a book, weak for a list page."},
    "Cache-Control": {**STRING, "description": "`no-cache`: store, but revalidate with If-None-Match."},
}
# Dates have whole seconds, so a book that changed within the second a date names counts as changed since it.
IF_UNMODIFIED_SINCE = {"in": "header", "name": "If-Unmodified-Since", **STRING,
                       "description": "An HTTP date, used when If-Match is absent: 412 when the book changed at or "
                                      "after it, within that second too (a list page ignores it)."}
REQUEST_VALIDATORS = [
    {"in": "header", "name": "If-None-Match", **STRING, "description": "ETags you hold: 304 when one is current."},
    {"in": "header", "name": "If-Modified-Since", **STRING,
     "description": "An HTTP date, used when If-None-Match is absent: 304 when the book last changed before it, "
                    "200 when it changed at or after it, within that second too (a list page ignores it)."},
    IF_UNMODIFIED_SINCE,
]
IF_MATCH = {"in": "header", "name": "If-Match", **STRING,
            "description": "The ETag you read; a stale one gets 412. Optional unless REQUIRE_IF_MATCH is on."}
IDEMPOTENCY_KEY = {
    "in": "header", "name": KEY_HEADER,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN},
    "description": "A key of your choosing, new for each new request (a UUID, say), to make retries safe: a repeat "
                   "with the same key and body, by the same account, within IDEMPOTENCY_KEY_TTL seconds (24 hours by "
                   "default), gets the first success's answer again and creates nothing. Failures are not kept, so "
                   "a key whose request failed may be sent again. Printable ASCII without commas; 400 otherwise.",
}
REPLAYED = {**STRING, "description": "`true` on an answer repeated for a retry with the same Idempotency-Key."}


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


@dataclass
class Operation:
    """What the OpenAPI document says of one view, beyond its route and docstring."""

    args: Schema | None = None
    path: Schema | None = None
    body: Schema | None = None
    response: Schema | None = None
    status: int = 200
    database: bool = True
    cached: bool = False
    links: bool = False
    preconditions: bool = False
    media_types: tuple = ("application/json",)
    errors: set = field(default_factory=set)

    def error_codes(self, has_path_parameters):
        """The errors follow from what the view takes: arguments can be invalid, a body malformed, an id missing."""
        codes = {500} | ({503} if self.database else set()) | set(self.errors)
        if self.args is not None or self.path is not None:
            codes |= {422}
        if self.body is not None:
            codes |= {400, 409, 413, 415, 422}
        if has_path_parameters:
            codes |= {404}
        if self.preconditions:
            # 409 too: every write, a DELETE included, can lose to concurrent writes twice.
            codes |= {409, 412, 428}
        if self.cached:
            codes |= {412}
        return sorted(codes)


def operation(**description):
    """Describe a view for the OpenAPI document (see ``Operation``); the view's docstring gives the summary."""

    def describe(view):
        view.openapi = Operation(**description)
        return view

    return describe


def schema_name(schema):
    """A schema's component name: its class name less "Schema", "Update" after a partial one, or its own."""
    cls = schema if isinstance(schema, type) else type(schema)
    if hasattr(cls, "openapi_name"):
        return cls.openapi_name
    name = cls.__name__.removesuffix("Schema")
    return name + "Update" if getattr(schema, "partial", False) else name


def build_spec(app):
    spec = APISpec(
        title="Book Store API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
        info={"description": DESCRIPTION.format(
            allowed=code_list(CORS_ALLOW_HEADERS), exposed=code_list(CORS_EXPOSE_HEADERS),
        )},
    )
    spec.components.schema("Problem", schema=ProblemSchema)
    spec.components.security_scheme(BEARER, {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "An access token from `POST /api/v1/auth/login`.",
    })
    for code, description in ERRORS.items():
        spec.components.response(str(code), problem_response(description, code))
    for code, description in IDEMPOTENT_ERRORS.items():
        spec.components.response(f"idempotent-{code}", problem_response(description, code))
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        if not hasattr(view, "openapi"):
            continue
        (method,) = rule.methods - {"HEAD", "OPTIONS"}
        spec.path(
            path=PATH_PARAMETER.sub(r"{\2}", rule.rule),
            operations={method.lower(): describe_operation(rule, view, view.openapi)},
        )
    return spec.to_dict()


def code_list(names):
    return ", ".join(f"`{name}`" for name in names)


def problem_response(description, code):
    response = {"description": description, "content": {"application/problem+json": {"schema": "Problem"}}}
    if code in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    if code == 401:
        challenge = '`Bearer`, with `error="invalid_token"` for a token that was refused.'
        response["headers"] = {"WWW-Authenticate": {**STRING, "description": challenge}}
    return response


def path_parameters(rule, meta):
    if meta.path is not None:
        return [{"in": "path", "schema": meta.path}]
    return [
        {"in": "path", "name": name, "required": True,
         "schema": {"type": "integer", "format": "int64"} if converter == "int" else {"type": "string"}}
        for converter, name in PATH_PARAMETER.findall(rule.rule)
    ]


def success_response(meta):
    response = {"description": "Success."}
    if meta.response is not None:
        response["content"] = {"application/json": {"schema": meta.response}}
    headers = {}
    if meta.status == 201:
        headers["Location"] = {**STRING, "description": "The new resource's URL."}
    if meta.cached:
        headers.update(CACHE_HEADERS)
    if meta.links:
        headers["Link"] = {**STRING, "description": "RFC 8288 links: `first`, `next` and `prev` pages."}
    if headers:
        response["headers"] = headers
    return response


def access_codes(rule, view):
    """The refusals an operation can answer with, from who may call it and the limits it is under."""
    access, codes = access_of(view), set()
    if access is not None and access.login:
        codes |= {401, 403} if access.role else {401}
    if policies_of(view, rule.methods):
        codes |= {429}
    return codes


def take_idempotency_key(parameters, responses, status):
    parameters.append(IDEMPOTENCY_KEY)
    responses[str(status)].setdefault("headers", {})[REPLAYED_HEADER] = REPLAYED
    for code in IDEMPOTENT_ERRORS:
        responses[str(code)] = {"$ref": f"#/components/responses/idempotent-{code}"}


def describe_operation(rule, view, meta):
    parameters = path_parameters(rule, meta)
    responses = {str(meta.status): success_response(meta)}
    if meta.cached:
        parameters += REQUEST_VALIDATORS
        responses["304"] = {"description": "Not modified: your copy is current."}
    if meta.preconditions:
        parameters += [IF_MATCH, IF_UNMODIFIED_SINCE]
    if meta.args is not None:
        parameters.append({"in": "query", "schema": meta.args})
    for code in sorted(set(meta.error_codes(bool(PATH_PARAMETER.search(rule.rule)))) | access_codes(rule, view)):
        responses[str(code)] = {"$ref": f"#/components/responses/{code}"}
    if is_idempotent(view):
        take_idempotency_key(parameters, responses, meta.status)
    operation = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": view.__doc__.strip().splitlines()[0],
        "tags": [rule.endpoint.split(".")[0]],
        "parameters": parameters,
        "responses": responses,
    }
    if meta.body is not None:
        content = {media_type: {"schema": meta.body} for media_type in meta.media_types}
        operation["requestBody"] = {"required": True, "content": content}
    access = access_of(view)
    if access is not None and access.login:
        operation["security"] = [{BEARER: []}]
        operation["description"] = f"Requires the {access.role} role or a higher one." if access.role else \
            "Requires a signed-in account."
    return operation
