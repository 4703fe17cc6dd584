"""The statements of author reads: the authors' list, declared for the list machinery."""
from datetime import date

from sqlalchemy import Date, func, literal_column

from bookapi.authors.models import Author
from bookapi.listing.collection import Collection, resembling

# Unknown birth dates sort as the last day a date can hold, after every known one (as nulls would), so that the key
# is one a cursor can hold: a null compares as nothing. The expression is the index's (ix_authors_birth_date_sort_id).
BIRTH_DATE_SORT = func.coalesce(Author.birth_date, literal_column(f"'{date.max.isoformat()}'::date", Date), type_=Date)

AUTHOR_LIST = Collection(
    table=Author.__table__,
    columns=[column for column in Author.__table__.c],
    sort_keys={
        "name": Author.name, "birth_date": BIRTH_DATE_SORT, "book_count": Author.book_count,
        "created_at": Author.created_at, "id": Author.id,
    },
    search=resembling(Author.name, "q"),
)
