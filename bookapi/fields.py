"""Marshmallow fields shared by the resources."""
import re

from email_validator import EmailNotValidError, validate_email
from marshmallow import ValidationError, fields, validate

from bookapi import isbn

# Patterns that mean the same in ECMA-262, which OpenAPI's `pattern` follows, and in Python's re.fullmatch.
SINGLE_LINE_TEXT = re.compile(r"^[^\x00-\x1F\x7F-\x9F]*$")
MULTILINE_TEXT = re.compile(r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")


def check_length_as_sent(field, value):
    """Run ``field``'s length validators on ``value`` as it arrived, before loading changes or expands it.

    The OpenAPI document's minLength/maxLength (minItems/maxItems) are limits on what is sent; and a list past its
    limit is refused before any item costs a load.
    """
    for validator in field.validators:
        if isinstance(validator, validate.Length):
            validator(value)


class Text(fields.String):
    """A string PostgreSQL can store and a person can read: free of control characters, within its length limits
    as sent, then trimmed.

    C0 and C1 control characters (and DEL) are refused; ``multiline`` text may hold tabs and line breaks (CR, LF).
    The rule is the field's OpenAPI ``pattern``. Lone surrogates never reach here: the JSON parser rejects them.
    """

    default_error_messages = {
        "control": "Must not contain control characters.",
        "multiline_control": "Must not contain control characters other than tab, CR and LF.",
    }

    def __init__(self, *, multiline=False, **kwargs):
        self.allowed = MULTILINE_TEXT if multiline else SINGLE_LINE_TEXT
        self.refusal = "multiline_control" if multiline else "control"
        kwargs["metadata"] = {"pattern": self.allowed.pattern, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        check_length_as_sent(self, text)
        if not self.allowed.fullmatch(text):
            raise self.make_error(self.refusal)
        return text.strip()


class Isbn(fields.String):
    """An ISBN-10 or ISBN-13 in any spelling, loaded as bare digits with a checked check digit."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return isbn.normalize(super()._deserialize(value, attr, data, **kwargs))
        except isbn.InvalidIsbn as error:
            raise ValidationError(str(error)) from None


class JsonBoolean(fields.Boolean):
    """Only JSON ``true`` and ``false``: ``0``, ``1`` and strings are not booleans in a body."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class CommaSeparated(fields.String):
    """A comma-separated list of names from an allow-list, loaded as a tuple; ``-name`` allowed if ``signed``."""

    def __init__(self, allowed, signed=False, **kwargs):
        super().__init__(**kwargs)
        self.allowed = tuple(allowed)
        self.signed = signed

    def _deserialize(self, value, attr, data, **kwargs):
        items = [item.strip() for item in super()._deserialize(value, attr, data, **kwargs).split(",")]
        names = [item.removeprefix("-") if self.signed else item for item in items]
        unknown = [name for name in names if name not in self.allowed]
        if unknown or not all(names):
            raise ValidationError(f"Unknown or empty name(s): {', '.join(unknown) or '(empty)'}; "
                                  f"choose from {', '.join(self.allowed)}.")
        if len(set(names)) != len(names):
            raise ValidationError("Each name may appear once.")
        return tuple(items)


class EachItem(fields.List):
    """A list of objects that load one by one with ``schema``: each becomes its data or its ``ValidationError``.

    The list itself must be a list of objects, as the OpenAPI document shows it; what to do with an object that
    fails ``schema`` is the caller's choice, since such an item does not make the request invalid.
    """

    def __init__(self, schema, **kwargs):
        super().__init__(fields.Dict(), **kwargs)
        self.schema = schema

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("invalid")
        check_length_as_sent(self, value)
        not_objects = {index: ["Not an object."] for index, item in enumerate(value) if not isinstance(item, dict)}
        if not_objects:
            raise ValidationError(not_objects)
        return [self.load_item(item) for item in value]

    def load_item(self, item):
        try:
            return self.schema.load(item)
        except ValidationError as error:
            return error


class Email(fields.String):
    """An email address, trimmed, checked for its syntax only (no DNS look-up) and lower-cased."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            return validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            raise ValidationError(f"Not a valid email address: {error}") from None
