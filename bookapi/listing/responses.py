"""A list's view: its page as a response, with its items cut to the fields asked for, links to its neighbours and
a weak ETag; and what the OpenAPI document says of it."""
from urllib.parse import urlencode

from flask import current_app, jsonify, request

from bookapi.caching import conditional
from bookapi.openapi import operation

# Characters a query string may carry unescaped (https://url.spec.whatwg.org/#percent-encoded-bytes).
URL_SAFE = "!$'()*,/:;?@"


def list_operation(args_schema, page_schema):
    """A list view's OpenAPI operation: its arguments, its page, ETags and Link, and 400 for a bad cursor."""
    return operation(args=args_schema, response=page_schema, cached=True, links=True, errors={400})


def list_response(find, args_schema, page_schema, **bound):
    """The page that ``find(args, count_cap)`` gives for the request's arguments, as a response. ``bound`` are
    arguments the view takes from elsewhere (its path, the caller), which a collection's filters bind as they bind
    the query's: a book's reviews, the caller's own favorites."""
    args = {**args_schema.load(request.args.to_dict()), **bound}
    page = find(args, current_app.config["LIST_COUNT_CAP"])
    return page_response(page, page_schema, args.get("fields"))


def page_response(page, page_schema, fields=None):
    """``page`` dumped with ``page_schema``, each item cut to ``fields`` when given, with a ``Link`` header and a
    weak ETag (the client's preconditions answered)."""
    response = jsonify(sparse(page_schema.dump(page), fields))
    response.headers["Link"] = page_links(page)
    return conditional(response, weak=True)


def sparse(body, fields):
    if fields:
        body["items"] = [{name: item[name] for name in fields} for item in body["items"]]
    return body


def page_links(page):
    """RFC 8288 links to the first, next and previous pages, keeping the request's other parameters."""
    path = request.script_root + request.path
    args = [(name, value) for name, value in request.args.items() if name not in ("page", "cursor")]
    links = [f'<{page_url(path, args)}>; rel="first"']
    for rel, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)):
        if cursor:
            links.append(f'<{page_url(path, [*args, ("cursor", cursor)])}>; rel="{rel}"')
    return ", ".join(links)


def page_url(path, query):
    return f"{path}?{urlencode(query, safe=URL_SAFE)}" if query else path
