"""The statements of category reads: the categories' list, declared for the list machinery."""
from bookapi.categories.models import Category
from bookapi.listing.collection import Collection, resembling

CATEGORY_LIST = Collection(
    table=Category.__table__,
    columns=[column for column in Category.__table__.c],
    sort_keys={"name": Category.name, "book_count": Category.book_count, "created_at": Category.created_at,
               "id": Category.id},
    search=resembling(Category.name, "q"),
)
