"""Reading request bodies: JSON objects only, with the same problems everywhere."""
from flask import abort, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.wsgi import get_input_stream

# What PATCH accepts everywhere: JSON merge patch (RFC 7396), and plain JSON meaning the same.
PATCH_TYPES = ("application/merge-patch+json", "application/json")
ACCEPT_PATCH = ", ".join(PATCH_TYPES)


def json_object(media_types=None):
    """The request body as a dict.

    415 when the body is not JSON (or not one of ``media_types``), 413 when it is larger than MAX_CONTENT_LENGTH,
    400 when malformed or not an object.
    """
    acceptable = request.mimetype in media_types if media_types else request.is_json
    if not acceptable:
        wanted = ", ".join(media_types or ["application/json"])
        raise UnsupportedMediaType(f"Send the body as {wanted}.")
    data = body_bytes()
    try:
        body = current_app.json.loads(data)
    except ValueError:
        abort(400, "The body is not valid JSON.")
    if not isinstance(body, dict):
        abort(400, "The body must be a JSON object.")
    return body


def body_bytes():
    """The body, read once per request: a write that lost a deadlock runs its view again (bookapi/conflicts.py)."""
    if "request_body" not in g:
        g.request_body = read_body()
    return g.request_body


def read_body():
    """The body, refused with 413 past MAX_CONTENT_LENGTH whether or not it came with a Content-Length."""
    limit = request.max_content_length
    if request.content_length is not None or limit is None:
        return request.get_data(cache=False)
    # Without a Content-Length (a chunked body), Werkzeug's stream stops at the limit and drops the rest unread, so
    # a longer body would arrive cut short. Reading through a limit one byte higher tells the two apart.
    body = get_input_stream(request.environ, max_content_length=limit + 1).read()
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


def advertise_patch(blueprint, path_argument):
    """Answer every request for an item of ``blueprint`` (its id the path's ``path_argument``) with the media types
    its PATCH accepts (RFC 5789's Accept-Patch)."""

    @blueprint.after_request
    def accept_patch(response):
        view_args = request._get_current_object().view_args
        if view_args and path_argument in view_args:
            response.headers["Accept-Patch"] = ACCEPT_PATCH
        return response
