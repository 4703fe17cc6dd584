"""A collection's declaration is checked when it is made, not when a request first lists it."""
import pytest
from sqlalchemy import bindparam

from bookapi.accounts.models import User
from bookapi.listing.collection import Collection, Filter, Search


def test_collection_with_a_cursor_scope_longer_than_16_bytes_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        Collection(table=User.__table__, columns=(User.id,), sort_keys={"id": User.id},
                   cursor_scope=b"seventeen bytes!!")


def search(variants):
    return Search(argument="q", conditions={name: User.email == bindparam("q") for name in variants},
                  ranks={name: User.id for name in variants}, correct=lambda q: None,
                  refuse=lambda variant, parameters: None, max_correction_length=10)


def test_search_without_a_corrected_variant_is_refused():
    with pytest.raises(ValueError, match="q_corrected"):
        search(["q"])


def test_collection_with_a_filter_named_as_its_search_is_refused():
    with pytest.raises(ValueError, match="share an argument"):
        Collection(table=User.__table__, columns=(User.id,), sort_keys={"id": User.id},
                   filters={"q": Filter(User.email == bindparam("q"))}, search=search(["q", "q_corrected"]))


def test_collection_with_a_default_sort_on_an_unknown_key_is_refused():
    with pytest.raises(ValueError, match="sort keys"):
        Collection(table=User.__table__, columns=(User.id,), sort_keys={"id": User.id}, default_sort=("-email",))


def test_collection_sortable_by_an_unknown_key_is_refused():
    with pytest.raises(ValueError, match="sort keys"):
        Collection(table=User.__table__, columns=(User.id,), sort_keys={"id": User.id}, sortable=("email",))


def test_collection_with_a_search_and_a_default_sort_is_refused():
    with pytest.raises(ValueError, match="no default sort"):
        Collection(table=User.__table__, columns=(User.id,), sort_keys={"id": User.id}, default_sort=("-id",),
                   search=search(["q", "q_corrected"]))
