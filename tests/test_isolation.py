"""A canary: each test starts on an empty catalogue, whatever ran before it."""
import pytest

from tests.factories import BookFactory


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_starts_with_no_books(client, run):
    assert client.get("/api/v1/books").get_json()["total"] == 0
    BookFactory()
