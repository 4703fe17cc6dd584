"""HTTP validators: ETags and Last-Modified on reads, preconditions on reads and writes (RFC 9110 §13.2.2)."""
import hashlib
from collections.abc import Mapping

from flask import abort, current_app, request
from werkzeug.http import http_date, quote_etag

CONDITIONAL_HEADERS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE")
# Caches may keep a response but must revalidate it: a cheap 304 while nothing changed.
REVALIDATE = [("Cache-Control", "no-cache"), ("Vary", "Origin, Accept")]
CHANGED = "It has changed since the version that If-Match or If-Unmodified-Since names: read it again and retry."


def entity_tag(body):
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def representation_tag(data):
    """The strong ETag a GET of ``data`` would carry: a digest of its exact JSON bytes."""
    return entity_tag(current_app.json.response(data).get_data())


def conditional(response, weak=False, last_modified=None):
    """Tag ``response``, set its caching headers, and answer the client's preconditions: 412 when one fails, 304
    when its copy is current."""
    tag = entity_tag(response.get_data())
    validators = [("ETag", quote_etag(tag, weak=weak))]
    if last_modified is not None:
        validators.append(("Last-Modified", http_date(last_modified)))
    # Views set none of these headers, so they are appended in one go; CORS merges its Vary in after this.
    response.headers.extend(validators + REVALIDATE)
    environ = request._get_current_object().environ
    if not any(header in environ for header in CONDITIONAL_HEADERS):
        return response
    # If-Match compares strongly, so a weak tag matches only "*".
    if precondition_fails(lambda: None if weak else tag, last_modified):
        abort(412, CHANGED)
    if not_modified(tag, last_modified):
        response.status_code = 304
    return response


def last_modified_of(record):
    """When a record's representation last changed: its ``last_modified`` where it embeds rows of other tables (see
    linked_books.py), else its own ``updated_at``; a record is a mapping (a row read) or a mapped object."""
    if isinstance(record, Mapping):
        return record.get("last_modified") or record["updated_at"]
    return record.updated_at


def require_current(resource, schema):
    """412 when If-Match names another version of ``resource``, or, without If-Match, when it changed since
    If-Unmodified-Since; 428 when If-Match is required but absent.

    The representation is dumped and hashed only when there is an If-Match to compare it with.
    """
    if not request.if_match and current_app.config["REQUIRE_IF_MATCH"]:
        abort(428, "Send If-Match with the current ETag.")
    if precondition_fails(lambda: representation_tag(schema.dump(resource)), last_modified_of(resource)):
        abort(412, CHANGED)


def precondition_fails(current_tag, last_modified):
    """Steps 1 and 2 of RFC 9110 §13.2.2: If-Match when sent, else If-Unmodified-Since.

    ``current_tag()`` gives the strong ETag If-Match is compared with (None if there is none); it is called only
    when If-Match names tags.
    """
    if_match = request.if_match
    if if_match:
        return not if_match.star_tag and not if_match.contains(current_tag())
    since = request.if_unmodified_since
    return since is not None and last_modified is not None and changed_since(last_modified, since)


def not_modified(tag, last_modified):
    """Steps 3 and 4 of RFC 9110 §13.2.2, for GET and HEAD: If-None-Match when sent, else If-Modified-Since."""
    if_none_match = request.if_none_match
    if if_none_match:
        return if_none_match.contains_weak(tag)
    since = request.if_modified_since
    return since is not None and last_modified is not None and not changed_since(last_modified, since)


def changed_since(last_modified, date):
    """Whether a resource last modified at ``last_modified`` (to the microsecond) changed at or after ``date``.

    An HTTP date has whole seconds, so a change within its second counts as a change: a Last-Modified date cannot
    tell two versions of the same second apart, and a 304 (or a write) on the strength of it could be stale.
    """
    return last_modified >= date
