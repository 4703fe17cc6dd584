"""RecordSchema's short way of dumping gives exactly what marshmallow's own dump gives."""
from datetime import date, datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from marshmallow import Schema, fields, post_dump

from bookapi.books.schemas import BookSchema, book_page_schema, book_schema
from bookapi.listing.pages import Page
from bookapi.records import RecordSchema, native_form

ROW = {
    "id": 7, "title": "Dune", "author": "Frank Herbert", "isbn": "0441172717", "isbn13": "9780441172719",
    "published_date": date(1965, 8, 1), "description": None,
    "created_at": datetime(2026, 11, 26, 10, 30, 15, 123456, tzinfo=timezone.utc),
    "updated_at": datetime(2026, 11, 26, 10, 30, tzinfo=timezone.utc),
}


# BookSchema's fields on a plain marshmallow schema, which dumps them the ordinary way.
MarshmallowBookSchema = Schema.from_dict(dict(BookSchema._declared_fields))


def test_dump_of_a_row_matches_marshmallow():
    assert book_schema.dump_plan is not None
    assert book_schema.dump(ROW) == MarshmallowBookSchema().dump(ROW)


FULL_ROW = {
    **ROW, "description": "A desert planet.", "authors": [{"id": 3, "name": "Frank Herbert"}], "categories": [],
    "average_rating": 4.25, "review_count": 8, "created_by": None,
}


@pytest.mark.parametrize("changes", [
    {},
    {"average_rating": None, "review_count": 0, "published_date": None},
    # Values of other types than the fields' own go through the fields' _serialize, as marshmallow's dump does.
    {"average_rating": Decimal("4.25"), "review_count": True, "id": 7.0, "title": b"Dune",
     "updated_at": datetime(2026, 11, 26, 10, 30)},
], ids=["native types", "nulls", "other types"])
def test_dump_of_every_field_matches_marshmallow(changes):
    row = {**FULL_ROW, **changes}

    assert book_schema.dump(row) == MarshmallowBookSchema().dump(row)


@pytest.mark.parametrize("field", [
    fields.Integer(as_string=True), fields.Float(as_string=True), fields.Decimal(), fields.Boolean(),
    fields.DateTime(format="rfc"), fields.Date(format="%d/%m/%Y"), fields.Url(), fields.Email(),
], ids=lambda field: type(field).__name__)
def test_fields_that_write_values_their_own_way_have_no_native_form(field):
    # Url and Email are strings dumped as String does; Boolean converts, and the others format.
    if isinstance(field, (fields.Url, fields.Email)):
        assert native_form(field) == (str, native_form(fields.String())[1])
    else:
        assert native_form(field) is None


def test_dump_of_an_object_matches_marshmallow():
    book = SimpleNamespace(**ROW)

    assert book_schema.dump(book) == MarshmallowBookSchema().dump(book)


def test_dump_leaves_out_what_the_record_lacks():
    row = {name: value for name, value in ROW.items() if name != "description"}

    assert book_schema.dump(row) == MarshmallowBookSchema().dump(row)
    assert "description" not in book_schema.dump(row)


def test_dump_of_a_page_nests_its_books():
    page = Page(items=[ROW, {**ROW, "id": 8}], size=2, total=40, total_is_estimate=False, page=1)

    dumped = book_page_schema.dump(page)

    assert dumped["items"] == MarshmallowBookSchema().dump([ROW, {**ROW, "id": 8}], many=True)
    assert (dumped["pages"], dumped["next_cursor"]) == (20, None)


def test_schema_with_dump_hooks_takes_marshmallows_way():
    class Shouting(RecordSchema):
        title = fields.String()

        @post_dump
        def shout(self, data, **kwargs):
            return {"title": data["title"].upper()}

    schema = Shouting()

    assert schema.dump_plan is None
    assert schema.dump({"title": "dune"}) == {"title": "DUNE"}


def test_schema_with_a_computed_field_takes_marshmallows_way():
    class Described(RecordSchema):
        title = fields.String()
        shout = fields.Function(lambda book: book["title"].upper())

    schema = Described()

    assert schema.dump_plan is None
    assert schema.dump([{"title": "dune"}], many=True) == [{"title": "dune", "shout": "DUNE"}]


def test_schema_with_its_own_attribute_lookup_takes_marshmallows_way():
    class Shelved(RecordSchema):
        title = fields.String()

        def get_attribute(self, obj, attr, default):
            return obj["volume"][attr]

    schema = Shelved()

    assert schema.dump_plan is None
    assert schema.dump({"volume": {"title": "Dune"}}) == {"title": "Dune"}
