import pytest

from bookapi.isbn import InvalidIsbn, normalize, to_isbn13


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("978-0-306-40615-7", "9780306406157"),
        ("978 0 306 40615 7", "9780306406157"),
        ("0-306-40615-2", "0306406152"),
        ("0-8044-2957-x", "080442957X"),
        ("979-10-90636-07-1", "9791090636071"),
    ],
)
def test_normalize_accepts_valid_spellings(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "123", "978-0-306-40615-8", "0-306-40615-3", "9770306406157", "X306406152", "97803064061577"]
)
def test_normalize_rejects_invalid(raw):
    with pytest.raises(InvalidIsbn):
        normalize(raw)


@pytest.mark.parametrize(
    "isbn, expected",
    [("0306406152", "9780306406157"), ("080442957X", "9780804429573"), ("9791090636071", "9791090636071")],
)
def test_to_isbn13(isbn, expected):
    assert to_isbn13(isbn) == expected
