"""Named queries over categories: one, read or written with its first books, and pages of the categories' list."""
from bookapi.books.models import book_categories
from bookapi.categories.models import Category
from bookapi.categories.schemas import category_schema
from bookapi.categories.statements import CATEGORY_LIST
from bookapi.linked_books import LinkedItems
from bookapi.listing.pages import find_page

# Deleting a category unlinks its books (the foreign key cascades); they stay in the catalogue.
CATEGORIES = LinkedItems(Category, book_categories.c.category_id, category_schema, "Category",
                         "categories.get_category", "category_id", unique_name="uq_categories_lower_name")


def find_categories(args, count_cap):
    """One page of the categories ``args`` select, by offset page or by cursor."""
    return find_page(CATEGORY_LIST, args, count_cap)
