"""Marshmallow fields shared by the resources."""
from marshmallow import ValidationError, fields

from bookapi import isbn


class Text(fields.String):
    """A string PostgreSQL can store: trimmed and free of NUL characters.

    Lone surrogates never reach here: the JSON parser rejects them as malformed.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


class Isbn(fields.String):
    """An ISBN-10 or ISBN-13 in any spelling, loaded as bare digits with a checked check digit."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return isbn.normalize(super()._deserialize(value, attr, data, **kwargs))
        except isbn.InvalidIsbn as error:
            raise ValidationError(str(error)) from None
