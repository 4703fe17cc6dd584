"""Books' full-text search, plugged into their list as its ``Search``: ranked by relevance, tolerant of misspelt
words, and refused (422) when its index could not bound it."""
import re

from marshmallow import ValidationError
from sqlalchemy import REAL, and_, bindparam, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import TSVECTOR

from bookapi import reads
from bookapi.books.models import Book
from bookapi.listing.collection import Search

SEARCH_VECTOR = Book.__table__.c.search_vector
# The longest search, and the longest spelling correction of one (a cursor carries it).
SEARCH_MAX_LENGTH = 200
# A search is "q", or "q_corrected" when a misspelt word widened it with its corrected form.
TSQUERIES = {
    "q": func.websearch_to_tsquery("english", bindparam("q")),
    "q_corrected": func.websearch_to_tsquery("english", bindparam("q")).op("||")(
        func.websearch_to_tsquery("english", bindparam("corrected_q"))),
}
RANKS = {name: func.ts_rank(SEARCH_VECTOR, tsquery, type_=REAL) for name, tsquery in TSQUERIES.items()}
# What PostgreSQL's parser made of a search: whether it kept any word (it drops stop words), and whether a book with
# no words at all would match (a search of exclusions, alone or in an `or`, matches nearly every book, and its index
# can only be read whole). A search is bounded by its index when it has words and such a book does not match.
SEARCH_TRAITS = {
    name: (func.numnode(tsquery) > 0, literal_column("''::tsvector", TSVECTOR).bool_op("@@")(tsquery))
    for name, tsquery in TSQUERIES.items()
}
SEARCH_CHECKS = {name: select(*traits) for name, traits in SEARCH_TRAITS.items()}
# The traits are constants by the time the planner sees them (the search is bound as a literal), so the statements
# of an unbounded search are planned with a one-time false filter, and scan nothing.
BOUNDED = {name: and_(has_words, ~matches_wordless) for name, (has_words, matches_wordless) in SEARCH_TRAITS.items()}
# Bare words of a web-search query; quoted phrases, exclusions and `or` are left as the user wrote them.
QUERY_TOKEN = re.compile(r'"[^"]*"?|\S+')
# A word is misspelt when no book has it (stop words, which search ignores, are not words to correct); then
# the nearest title or author word that search does not ignore stands in for it.
CORRECTIONS = text("""
    SELECT w, (SELECT word FROM search_words
               WHERE word % w AND numnode(plainto_tsquery('english', word)) > 0 ORDER BY word <-> w LIMIT 1)
    FROM unnest(CAST(:words AS text[])) AS w
    WHERE numnode(plainto_tsquery('english', w)) > 0
      AND NOT EXISTS (SELECT 1 FROM search_words WHERE word = w)
      AND NOT EXISTS (SELECT 1 FROM books WHERE search_vector @@ plainto_tsquery('english', w))
""")

NO_WORDS = "Nothing to search for: only common words (the, of, and, …), which are not indexed, or no words at all."
ONLY_EXCLUSIONS = ("Search for at least one word that every match contains: excluded words (-word), alone or in an "
                   "`or`, would match nearly every book.")


def spelling_corrected(q):
    """``q`` with each bare word that no book contains replaced by the nearest word of a title or author."""
    tokens = QUERY_TOKEN.findall(q)
    words = sorted({t.lower() for t in tokens if t.isalpha() and len(t) >= 3 and t.lower() != "or"})
    if not words:
        return None
    nearest = {word: match for word, match in reads.rows(CORRECTIONS, {"words": words}) if match}
    if not nearest:
        return None
    corrected = " ".join(nearest.get(t.lower(), t) if t.isalpha() else t for t in tokens)
    # Cursors carry the correction, and are sized for one no longer than a search.
    return corrected if len(corrected) <= SEARCH_MAX_LENGTH else None


def refuse_unbounded_search(variant, parameters):
    """422, saying why, for a search its index cannot bound; its statements select nothing (see BOUNDED)."""
    [(has_words, matches_wordless)] = reads.rows(SEARCH_CHECKS[variant], parameters)
    if not has_words:
        raise ValidationError({"q": [NO_WORDS]})
    if matches_wordless:
        raise ValidationError({"q": [ONLY_EXCLUSIONS]})


BOOK_SEARCH = Search(
    argument="q",
    conditions={name: and_(SEARCH_VECTOR.op("@@")(tsquery), BOUNDED[name]) for name, tsquery in TSQUERIES.items()},
    ranks=RANKS,
    correct=spelling_corrected,
    refuse=refuse_unbounded_search,
    max_correction_length=SEARCH_MAX_LENGTH,
)
