"""A page as a response: its items cut to the fields asked for, links to its neighbours, a weak ETag."""
from urllib.parse import urlencode

from flask import jsonify, request

from bookapi.caching import conditional

# Characters a query string may carry unescaped (https://url.spec.whatwg.org/#percent-encoded-bytes).
URL_SAFE = "!$'()*,/:;?@"


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
