"""A marshmallow schema that dumps flat records (rows or objects) in a few microseconds each.

marshmallow's ``dump`` reaches every value through several layers of calls per field (the field's ``serialize``,
``get_value``, the schema's accessor, ``utils.get_value``), which is most of what a page of twenty books costs to
dump. When a schema has no dump hooks and every field is an ordinary one reading a plain attribute, the same result
comes from one lookup and the field's own ``_serialize`` per value: the fields still decide every dumped value.
"""
from collections.abc import Mapping

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP


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
            (field.data_key or name, name, field.attribute or name, field._serialize)
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
        for key, name, attribute, serialize in self.dump_plan:
            value = lookup(attribute, missing)
            if value is not missing:
                dumped[key] = serialize(value, name, record)
        return dumped
