"""ISBN-10 and ISBN-13: normalization, check digits and conversion."""
import re

SEPARATORS = re.compile(r"[\s-]")
# ASCII digits only: int() would take other scripts' digits, which the database's checks (rightly) refuse.
ISBN10 = re.compile(r"[0-9]{9}[0-9X]")
ISBN13 = re.compile(r"97[89][0-9]{10}")


class InvalidIsbn(ValueError):
    pass


def isbn10_check_digit(first9):
    total = sum((10 - i) * int(d) for i, d in enumerate(first9))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def isbn13_check_digit(first12):
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def normalize(value):
    """Return the ISBN as bare digits (and a final ``X``), or raise ``InvalidIsbn``."""
    isbn = SEPARATORS.sub("", value).upper()
    if ISBN10.fullmatch(isbn):
        if isbn[-1] != isbn10_check_digit(isbn[:9]):
            raise InvalidIsbn("ISBN-10 check digit is wrong.")
    elif ISBN13.fullmatch(isbn):
        if isbn[-1] != isbn13_check_digit(isbn[:12]):
            raise InvalidIsbn("ISBN-13 check digit is wrong.")
    else:
        raise InvalidIsbn("Not an ISBN: expected 10 digits (last may be X) or 13 digits starting 978 or 979.")
    return isbn


def to_isbn13(isbn):
    """The ISBN-13 of a normalized ISBN; an ISBN-10 gains the 978 prefix and a new check digit."""
    if len(isbn) == 13:
        return isbn
    first12 = "978" + isbn[:9]
    return first12 + isbn13_check_digit(first12)
