"""Reading request bodies: JSON objects only, with the same problems everywhere."""
from flask import abort, request


def json_object():
    """The request body as a dict; 415 when not JSON, 400 when malformed or not an object."""
    if not request.is_json:
        abort(415, "Send the body as application/json.")
    body = request.get_json(silent=True)
    if body is None:
        abort(400, "The body is not valid JSON.")
    if not isinstance(body, dict):
        abort(400, "The body must be a JSON object.")
    return body
