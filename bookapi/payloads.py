"""Reading request bodies: JSON objects only, with the same problems everywhere."""
from flask import abort, request
from werkzeug.exceptions import UnsupportedMediaType

# What PATCH accepts everywhere: JSON merge patch (RFC 7396), and plain JSON meaning the same.
PATCH_TYPES = ("application/merge-patch+json", "application/json")


def json_object(media_types=None):
    """The request body as a dict.

    415 when the body is not JSON (or not one of ``media_types``), 400 when malformed or not an object.
    """
    acceptable = request.mimetype in media_types if media_types else request.is_json
    if not acceptable:
        wanted = ", ".join(media_types or ["application/json"])
        raise UnsupportedMediaType(f"Send the body as {wanted}.")
    body = request.get_json(silent=True, force=True)
    if body is None:
        abort(400, "The body is not valid JSON.")
    if not isinstance(body, dict):
        abort(400, "The body must be a JSON object.")
    return body
