"""Helpers for tests of lists: walking a list page by page."""


def walk(client, url, field, cursor=None, back=False):
    """Every item's ``field``, in the list's order, following next_cursor from ``url`` (or from its page at
    ``cursor``) to the end; or with ``back``, following prev_cursor to the start."""
    seen, response = [], client.get(f"{url}&cursor={cursor}" if cursor else url)
    while True:
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        found = [item[field] for item in body["items"]]
        seen = found + seen if back else seen + found
        cursor = body["prev_cursor" if back else "next_cursor"]
        if cursor is None:
            return seen
        response = client.get(f"{url}&cursor={cursor}")
