"""Books carry their authors' and categories' references, kept by triggers, so that a read takes them with the row.

Every book representation shows ``authors`` and ``categories`` as ``[{id, name}]``. Built per read by correlated
subqueries, they cost a page of twenty books several times what the rest of its statement does; stored in the
book's row they cost nothing more to read. Statement-level triggers keep them equal to the links and the names:
- a change to a book's links (``book_authors``, ``book_categories``, a category's deletion included) rewrites the
  references of the books it touched;
- an author's or a category's new name rewrites the references of its books.

Lock first, then read: a link trigger takes the linked rows FOR SHARE, and a renaming trigger takes its books FOR
UPDATE, each before the statement that reads names and links, which then sees what the other committed. The API
renames or deletes an author or a category after locking its books (bookapi/linked_books.py), in the order a write
of a book takes them, so that a rename and a relink wait for each other rather than deadlock. The data step fills
the references of every existing book: on 1,000,000 books, one rewrite of the table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# column: (the link table, the linked table, its key in the links, the order of the references)
REFERENCES = {
    "author_refs": ("book_authors", "authors", "author_id", "l.position"),
    "category_refs": ("book_categories", "categories", "category_id", "r.name, r.id"),
}
LINK_EVENTS = {"INSERT": "NEW", "DELETE": "OLD"}


def references_of(column, book):
    links, linked, key, order = REFERENCES[column]
    return (f"coalesce((SELECT json_agg(json_build_object('id', r.id, 'name', r.name) ORDER BY {order}) "
            f"FROM {links} AS l JOIN {linked} AS r ON r.id = l.{key} WHERE l.book_id = {book}), '[]'::json)")


def aggregated(column):
    """Every linked book's references to ``column``'s table, from one pass over the links."""
    links, linked, key, order = REFERENCES[column]
    return (f"SELECT l.book_id, json_agg(json_build_object('id', r.id, 'name', r.name) ORDER BY {order}) AS refs "
            f"FROM {links} AS l JOIN {linked} AS r ON r.id = l.{key} GROUP BY l.book_id")


# One rewrite of every linked book (a subquery per book would cost a million plans, a statement per column two
# rewrites of the table).
FILL = f"""
UPDATE books AS b SET author_refs = coalesce(a.refs, '[]'::json), category_refs = coalesce(c.refs, '[]'::json)
FROM ({aggregated("author_refs")}) AS a FULL JOIN ({aggregated("category_refs")}) AS c ON c.book_id = a.book_id
WHERE b.id = coalesce(a.book_id, c.book_id)
"""


def link_trigger(column):
    links, linked, key, _ = REFERENCES[column]
    return f"""
CREATE FUNCTION {links}_refer_books() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM {linked} WHERE id IN (SELECT {key} FROM changed_links) ORDER BY id FOR SHARE;
    UPDATE books AS b SET {column} = {references_of(column, "b.id")}
    WHERE b.id IN (SELECT book_id FROM changed_links);
    RETURN NULL;
END
$$
"""


def rename_trigger(column):
    links, linked, key, _ = REFERENCES[column]
    renamed_books = (f"SELECT l.book_id FROM {links} AS l JOIN new_rows AS n ON n.id = l.{key} "
                     f"JOIN old_rows AS o ON o.id = n.id WHERE n.name IS DISTINCT FROM o.name")
    return f"""
CREATE FUNCTION {linked}_rename_books() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM books WHERE id IN ({renamed_books}) ORDER BY id FOR UPDATE;
    UPDATE books AS b SET {column} = {references_of(column, "b.id")} WHERE b.id IN ({renamed_books});
    RETURN NULL;
END
$$
"""


def upgrade():
    op.execute("ALTER TABLE books ADD COLUMN author_refs json DEFAULT '[]'::json NOT NULL, "
               "ADD COLUMN category_refs json DEFAULT '[]'::json NOT NULL")
    # Titles and bylines are not written: the words the search knows need no collecting again (migration 0002).
    op.execute("ALTER TABLE books DISABLE TRIGGER books_search_words_on_update")
    op.execute(FILL)
    op.execute("ALTER TABLE books ENABLE TRIGGER books_search_words_on_update")
    for column, (links, linked, _, _) in REFERENCES.items():
        op.execute(link_trigger(column))
        for event, rows in LINK_EVENTS.items():
            op.execute(f"CREATE TRIGGER {links}_refer_books_on_{event.lower()} AFTER {event} ON {links} "
                       f"REFERENCING {rows} TABLE AS changed_links "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {links}_refer_books()")
        op.execute(rename_trigger(column))
        op.execute(f"CREATE TRIGGER {linked}_rename_books AFTER UPDATE ON {linked} "
                   f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {linked}_rename_books()")


def downgrade():
    for links, linked, _, _ in REFERENCES.values():
        op.execute(f"DROP TRIGGER {linked}_rename_books ON {linked}")
        op.execute(f"DROP FUNCTION {linked}_rename_books()")
        for event in LINK_EVENTS:
            op.execute(f"DROP TRIGGER {links}_refer_books_on_{event.lower()} ON {links}")
        op.execute(f"DROP FUNCTION {links}_refer_books()")
    op.execute("ALTER TABLE books DROP COLUMN author_refs, DROP COLUMN category_refs")
