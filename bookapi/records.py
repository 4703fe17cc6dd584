"""A marshmallow schema that dumps flat records (rows or objects) in a few microseconds each.

marshmallow's ``dump`` reaches every value through several layers of calls per field (the field's ``serialize``,
``get_value``, the schema's accessor, ``utils.get_value``), which is most of what a page of twenty books costs to
dump. When a schema has no dump hooks and every field is an ordinary one reading a plain attribute, the same result
comes from one lookup and the field's own ``_serialize`` per value: the fields still decide every dumped value.
A value of the very type a standard field writes unchanged (a string, an integer) or as ISO 8601 (a date, a
time) is written that way without the call (``native_form``); tests/test_records.py holds both ways equal.
"""
from collections.abc import Mapping
from datetime import date, datetime

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

# No native form: the field's own ``_serialize`` writes every value.
NONE = (None, None)


def unchanged(value):
    return value


def native_form(field):
    """``(type, function)`` when ``field`` dumps every value of exactly that type as ``function(value)`` does, and
    None as None: what its ``_serialize`` would do, without the call through it. None for any other field.

    Strings and plain numbers dump as they are; dates and times as ISO 8601, by the very method marshmallow
    calls. A subclass that changes how its values are written is left to its own ``_serialize``.
    """
    kind = type(field)
    if kind._serialize is fields.String._serialize:
        return str, unchanged
    if kind._serialize is fields.Number._serialize and not field.as_string:
        if kind._format_num is fields.Integer._format_num and isinstance(field, fields.Integer):
            return int, unchanged
        if kind._format_num is fields.Float._format_num and isinstance(field, fields.Float):
            return float, unchanged
    if isinstance(field, (fields.Date, fields.DateTime)) and kind._serialize is fields.Date._serialize:
        written = field.SERIALIZATION_FUNCS.get(field.format or field.DEFAULT_FORMAT)
        if written in (date.isoformat, datetime.isoformat):
            return (datetime if isinstance(field, fields.DateTime) else date), written
    return None


def direct_field(name, field):
    """Whether ``field`` dumps its own attribute's value, through nothing but its ``_serialize``."""
    return (
        type(field).serialize is fields.Field.serialize
        and type(field).get_value is fields.Field.get_value
        and field._CHECK_ATTRIBUTE
        and field.dump_default is missing
        and "." not in (field.attribute or name)
    )


class RecordSchema(Schema):
    """A schema whose ``dump`` takes the short way when all its fields allow it, and marshmallow's way otherwise."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        direct = (
            not self._hooks[PRE_DUMP] and not self._hooks[POST_DUMP]
            and type(self).get_attribute is Schema.get_attribute and self.dict_class is dict
            and all(direct_field(name, field) for name, field in self.dump_fields.items())
        )
        self.dump_plan = tuple(
            (field.data_key or name, name, field.attribute or name, field._serialize, *(native_form(field) or NONE))
            for name, field in self.dump_fields.items()
        ) if direct else None

    def dump(self, obj, *, many=None):
        many = self.many if many is None else bool(many)
        if self.dump_plan is None or obj is None:
            return super().dump(obj, many=many)
        return [self.dump_record(record) for record in obj] if many else self.dump_record(obj)

    def dump_record(self, record):
        lookup = record.get if isinstance(record, Mapping) else lambda attribute, default: getattr(
            record, attribute, default)
        dumped = {}
        for key, name, attribute, serialize, native_type, native in self.dump_plan:
            value = lookup(attribute, missing)
            if value is missing:
                continue
            if native_type is not None and (value is None or type(value) is native_type):
                dumped[key] = None if value is None else native(value)
            else:
                dumped[key] = serialize(value, name, record)
        return dumped
