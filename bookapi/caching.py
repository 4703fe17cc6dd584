"""HTTP validators: ETags and Last-Modified on reads, If-Match preconditions on writes."""
import hashlib

from flask import abort, current_app, request
from werkzeug.http import http_date, quote_etag

CONDITIONAL_HEADERS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE")
# Caches may keep a response but must revalidate it: a cheap 304 while nothing changed.
REVALIDATE = (("Cache-Control", "no-cache"), ("Vary", "Origin, Accept"))


def entity_tag(body):
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def representation_tag(data):
    """The strong ETag a GET of ``data`` would carry: a digest of its exact JSON bytes."""
    return entity_tag(current_app.json.response(data).get_data())


def conditional(response, weak=False, last_modified=None):
    """Tag ``response``, set its caching headers, and turn it into a 304 when the client's copy is current."""
    headers = response.headers
    headers["ETag"] = quote_etag(entity_tag(response.get_data()), weak=weak)
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified)
    headers.extend(REVALIDATE)  # views set neither header; CORS merges its Vary in after this
    if not any(header in request.environ for header in CONDITIONAL_HEADERS):
        return response
    return response.make_conditional(request)


def require_current(resource, schema):
    """412 when If-Match names another version of ``resource``; 428 when If-Match is required but absent.

    The representation is dumped and hashed only when there is an If-Match to compare it with.
    """
    if not request.if_match:
        if current_app.config["REQUIRE_IF_MATCH"]:
            abort(428, "Send If-Match with the book's current ETag.")
        return
    if not request.if_match.star_tag and not request.if_match.contains(representation_tag(schema.dump(resource))):
        abort(412, "The book has changed since you read it: fetch it again and retry with its new ETag.")
