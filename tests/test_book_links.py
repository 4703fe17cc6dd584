"""Books with their authors, categories and ratings: links on every write, the byline made from the authors, the
filters and sorts the links and ratings allow, and the counts the database keeps."""
import pytest
from sqlalchemy import func, select

from bookapi.authors.models import Author
from bookapi.books.models import Book, book_authors, book_categories
from bookapi.categories.models import Category
from bookapi.extensions import db
from tests.factories import AuthorFactory, BookFactory, BookPayload, CategoryFactory, ReviewFactory

BOOKS = "/api/v1/books"


def author(name):
    return AuthorFactory(name=name)


def category(name):
    return CategoryFactory(name=name)


def rate(book, *ratings):
    """Reviews of ``book`` by new readers, one per rating."""
    for rating in ratings:
        ReviewFactory(book_id=book.id, rating=rating)


def link(book, authors=(), categories=()):
    for position, linked in enumerate(authors):
        db.session.execute(book_authors.insert().values(book_id=book.id, author_id=linked.id, position=position))
    for linked in categories:
        db.session.execute(book_categories.insert().values(book_id=book.id, category_id=linked.id))
    db.session.commit()


def stored_count():
    return db.session.scalar(select(func.count()).select_from(Book))


def test_create_book_with_author_ids_links_them_in_order_and_makes_the_byline(client):
    first, second = author("Terry Pratchett"), author("Neil Gaiman")
    payload = BookPayload(author_ids=[first.id, second.id])
    del payload["author"]

    response = client.post(BOOKS, json=payload)

    assert response.status_code == 201
    body = response.get_json()
    assert body["author"] == "Terry Pratchett, Neil Gaiman"
    assert body["authors"] == [{"id": first.id, "name": "Terry Pratchett"}, {"id": second.id, "name": "Neil Gaiman"}]
    assert client.get(f"{BOOKS}/{body['id']}").get_json() == body


def test_create_book_keeps_the_byline_it_is_sent(client):
    linked = author("Terry Pratchett")

    body = client.post(BOOKS, json=BookPayload(author="T. Pratchett", author_ids=[linked.id])).get_json()

    assert body["author"] == "T. Pratchett"
    assert body["authors"] == [{"id": linked.id, "name": "Terry Pratchett"}]


def test_create_book_without_byline_or_authors_returns_422(client):
    payload = BookPayload()
    del payload["author"]

    response = client.post(BOOKS, json=payload)

    assert response.status_code == 422
    assert "author" in response.get_json()["errors"]


def test_byline_of_many_long_names_is_cut_to_its_column(client):
    names = [author(f"{'Bartholomew ' * 8}{n}") for n in range(5)]
    payload = BookPayload(author_ids=[a.id for a in names])
    del payload["author"]

    body = client.post(BOOKS, json=payload).get_json()

    assert len(body["author"]) == 255
    assert body["author"].endswith("…")


def test_create_book_with_unknown_author_returns_404_and_stores_nothing(client):
    known = author("Known")

    response = client.post(BOOKS, json=BookPayload(author_ids=[known.id, 999_999]))

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Author with id 999999 not found"
    assert stored_count() == 0


def test_create_book_with_unknown_categories_returns_404_naming_them(client):
    known = category("Fantasy")

    response = client.post(BOOKS, json=BookPayload(category_ids=[998, known.id, 999]))

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Categories with ids [998, 999] not found"
    assert stored_count() == 0


@pytest.mark.parametrize("ids", [[1, 1], ["1"], [0], [1.5], "1", [2**63], list(range(1, 52))])
def test_create_book_with_bad_link_ids_returns_422(client, ids):
    response = client.post(BOOKS, json=BookPayload(author_ids=ids))

    assert response.status_code == 422
    assert "author_ids" in response.get_json()["errors"]


def test_book_shows_categories_by_name_and_no_ratings_until_reviewed(client):
    fantasy, comedy = category("fantasy"), category("Comedy")

    body = client.post(BOOKS, json=BookPayload(category_ids=[fantasy.id, comedy.id])).get_json()

    assert body["categories"] == [{"id": comedy.id, "name": "Comedy"}, {"id": fantasy.id, "name": "fantasy"}]
    assert (body["average_rating"], body["review_count"]) == (None, 0)


def test_book_shows_its_average_rating_to_two_decimals(client):
    book = BookFactory()
    rate(book, 5, 4, 4)

    body = client.get(f"{BOOKS}/{book.id}").get_json()

    assert (body["average_rating"], body["review_count"]) == (4.33, 3)


def test_review_dates_the_books_last_modified(client):
    book = BookFactory()
    before = client.get(f"{BOOKS}/{book.id}")

    rate(book, 3)

    response = client.get(f"{BOOKS}/{book.id}", headers={"If-None-Match": before.headers["ETag"]})
    assert response.status_code == 200
    assert response.get_json()["updated_at"] > before.get_json()["updated_at"]


def test_patch_author_ids_relinks_remakes_the_byline_and_dates_the_change(client):
    old, new = author("Old Hand"), author("New Hand")
    book = BookFactory(author="Old Hand")
    link(book, [old])
    before = client.get(f"{BOOKS}/{book.id}")

    response = client.patch(f"{BOOKS}/{book.id}", json={"author_ids": [new.id]},
                            headers={"If-Match": before.headers["ETag"]})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["author"], body["authors"]) == ("New Hand", [{"id": new.id, "name": "New Hand"}])
    assert body["updated_at"] > before.get_json()["updated_at"]
    assert response.headers["ETag"] == client.get(f"{BOOKS}/{book.id}").headers["ETag"]
    db.session.expire_all()
    assert (db.session.get(Author, old.id).book_count, db.session.get(Author, new.id).book_count) == (0, 1)


def test_update_with_the_etag_of_a_linked_book_is_accepted(client):
    book = BookFactory()
    link(book, [author("Ann Leckie")], [category("Space opera")])
    etag = client.get(f"{BOOKS}/{book.id}").headers["ETag"]

    response = client.put(f"{BOOKS}/{book.id}", json={"title": "Ancillary Justice"}, headers={"If-Match": etag})

    assert response.status_code == 200
    assert response.get_json()["authors"] == [{"id": 1, "name": "Ann Leckie"}]


def test_update_with_unknown_author_changes_nothing(client):
    book = BookFactory(title="Unchanged")

    response = client.put(f"{BOOKS}/{book.id}", json={"title": "Changed", "author_ids": [404]})

    assert response.status_code == 404
    assert client.get(f"{BOOKS}/{book.id}").get_json()["title"] == "Unchanged"


def test_put_categories_replaces_the_set(client):
    book, old, new = BookFactory(), category("Old"), category("New")
    link(book, categories=[old])

    response = client.put(f"{BOOKS}/{book.id}/categories", json={"category_ids": [new.id]})

    assert response.status_code == 200
    assert response.get_json()["categories"] == [{"id": new.id, "name": "New"}]
    db.session.expire_all()
    assert (db.session.get(Category, old.id).book_count, db.session.get(Category, new.id).book_count) == (0, 1)


def test_put_empty_categories_clears_them(client):
    book = BookFactory()
    link(book, categories=[category("Old")])

    response = client.put(f"{BOOKS}/{book.id}/categories", json={"category_ids": []})

    assert response.status_code == 200
    assert response.get_json()["categories"] == []


@pytest.mark.parametrize("body", [{}, {"category_ids": None}, {"category_ids": [1], "extra": 1}])
def test_put_categories_without_a_list_returns_422(client, body):
    response = client.put(f"{BOOKS}/{BookFactory().id}/categories", json=body)

    assert response.status_code == 422


def test_put_categories_of_a_missing_book_returns_404(client):
    response = client.put(f"{BOOKS}/999/categories", json={"category_ids": []})

    assert (response.status_code, response.get_json()["detail"]) == (404, "Book with id 999 not found")


def test_put_categories_with_a_stale_etag_returns_412(client):
    book = BookFactory()
    etag = client.get(f"{BOOKS}/{book.id}").headers["ETag"]
    client.put(f"{BOOKS}/{book.id}", json={"title": "Changed"})

    response = client.put(f"{BOOKS}/{book.id}/categories", json={"category_ids": []}, headers={"If-Match": etag})

    assert response.status_code == 412


def test_deleting_a_book_unlinks_it_and_counts_it_out(client):
    book, writer, genre = BookFactory(), author("Writer"), category("Genre")
    link(book, [writer], [genre])

    assert client.delete(f"{BOOKS}/{book.id}").status_code == 200

    db.session.expire_all()
    assert (db.session.get(Author, writer.id).book_count, db.session.get(Category, genre.id).book_count) == (0, 0)


def test_bulk_create_links_each_item_and_reports_unknown_ids_per_item(client):
    writer = author("Writer")
    linked, unknown = BookPayload(author_ids=[writer.id]), BookPayload(category_ids=[77])
    del linked["author"]

    response = client.post(f"{BOOKS}/bulk", json={"items": [linked, unknown], "atomic": False})

    items = response.get_json()["items"]
    assert [item["status"] for item in items] == [201, 404]
    assert items[0]["book"]["authors"] == [{"id": writer.id, "name": "Writer"}]
    assert items[0]["book"]["author"] == "Writer"
    assert items[1]["problem"]["detail"] == "Categories with ids [77] not found"


def test_atomic_bulk_create_with_an_unknown_author_stores_nothing(client):
    response = client.post(f"{BOOKS}/bulk", json={"items": [BookPayload(), BookPayload(author_ids=[5])]})

    assert response.status_code == 422
    assert stored_count() == 0


def listed(client, query):
    return [item["id"] for item in client.get(f"{BOOKS}?{query}").get_json()["items"]]


def test_list_filters_by_author_id(client):
    writer = author("Writer")
    theirs, other = BookFactory(), BookFactory()
    link(theirs, [author("Co-writer"), writer])
    link(other, [author("Someone else")])

    assert listed(client, f"author_id={writer.id}") == [theirs.id]


def test_list_filters_by_category_id_and_by_name_ignoring_case(client):
    genre = category("Science Fiction")
    inside, outside = BookFactory(), BookFactory()
    link(inside, categories=[genre])

    assert listed(client, f"category_id={genre.id}") == [inside.id]
    assert listed(client, "category=science fiction") == [inside.id]
    assert listed(client, "category=Nothing") == []
    assert outside.id not in listed(client, "category=SCIENCE FICTION")


def test_list_filtered_by_several_links_counts_the_books_in_all_of_them(client):
    writer, genre, era = author("Writer"), category("Genre"), category("Era")
    both, also_in_era, writer_only, genre_only = BookFactory(), BookFactory(), BookFactory(), BookFactory()
    link(both, [writer], [genre])
    link(also_in_era, [author("Co-writer"), writer], [genre, era])
    link(writer_only, [writer], [era])
    link(genre_only, [author("Someone else")], [genre])

    for query, expected in ((f"author_id={writer.id}&category_id={genre.id}", [both.id, also_in_era.id]),
                            (f"author_id={writer.id}&category=era", [also_in_era.id, writer_only.id]),
                            (f"category_id={genre.id}&category=ERA", [also_in_era.id]),
                            (f"author_id={writer.id}&category=nothing", [])):
        page = client.get(f"{BOOKS}?{query}").get_json()

        assert ([item["id"] for item in page["items"]], page["total"]) == (expected, len(expected)), query


def test_list_filters_by_minimum_rating(client):
    good, middling, unrated = BookFactory(), BookFactory(), BookFactory()
    rate(good, 5, 4)
    rate(middling, 3)

    assert listed(client, "min_rating=4.5") == [good.id]
    assert listed(client, "min_rating=3") == [good.id, middling.id]
    assert unrated.id not in listed(client, "min_rating=1")


@pytest.mark.parametrize("value", ["0", "5.5", "nan", "four"])
def test_list_with_a_bad_minimum_rating_returns_422(client, value):
    response = client.get(f"{BOOKS}?min_rating={value}")

    assert response.status_code == 422
    assert "min_rating" in response.get_json()["errors"]


def test_list_sorts_by_rating_with_unrated_books_last_and_pages_by_cursor(client):
    books = BookFactory.create_batch(7)
    for book, ratings in zip(books, [(5,), (3, 4), (), (4,), (2,), (), (5, 5)]):
        rate(book, *ratings)
    # Ties go by id, the same way as the rating.
    expected = [books[6].id, books[0].id, books[3].id, books[1].id, books[4].id, books[5].id, books[2].id]

    seen, url = [], f"{BOOKS}?sort=-average_rating&size=2"
    while url:
        page = client.get(url).get_json()
        seen += [item["id"] for item in page["items"]]
        url = f"{BOOKS}?sort=-average_rating&size=2&cursor={page['next_cursor']}" if page["next_cursor"] else None

    assert seen == expected


def pages_both_ways(client, query):
    """The ids of each page of ``query``, by next cursors from the first page, and by previous cursors from the
    last one back (in their order)."""
    forth, page = [], client.get(f"{BOOKS}?{query}&size=2").get_json()
    while True:
        forth.append([item["id"] for item in page["items"]])
        if not page["next_cursor"]:
            break
        page = client.get(f"{BOOKS}?{query}&size=2&cursor={page['next_cursor']}").get_json()
    back = [forth[-1]]
    while page["prev_cursor"]:
        page = client.get(f"{BOOKS}?{query}&size=2&cursor={page['prev_cursor']}").get_json()
        back.insert(0, [item["id"] for item in page["items"]])
    return forth, back


@pytest.mark.parametrize("sort", ["id", "-id"])
def test_cursor_pages_of_a_linked_filter_in_id_order_visit_each_book_once_both_ways(client, sort):
    genre, writer = category("Linked Genre"), author("Linked Writer")
    books = BookFactory.create_batch(9)
    # Books in the genre and by the writer between books in neither, so that the pages' bounds fall between them.
    for book in books[::2]:
        link(book, [writer], [genre])
    expected = sorted((book.id for book in books[::2]), reverse=sort == "-id")

    for query in (f"category_id={genre.id}", f"author_id={writer.id}", "category=linked genre",
                  f"category_id={genre.id}&author_id={writer.id}"):
        forth, back = pages_both_ways(client, f"{query}&sort={sort}")

        assert [book_id for page in forth for book_id in page] == expected, query
        assert back == forth, query


def test_list_sorts_by_review_count(client):
    few, many = BookFactory(), BookFactory()
    rate(few, 3)
    rate(many, 3, 4)

    assert listed(client, "sort=-review_count")[:2] == [many.id, few.id]


def test_author_filter_combines_with_search_and_cursors(client):
    writer = author("Writer")
    dragons = [BookFactory(title=f"Dragon tale {n}") for n in range(3)]
    for book in dragons:
        link(book, [writer])
    BookFactory(title="Dragon elsewhere")

    first = client.get(f"{BOOKS}?q=dragon&author_id={writer.id}&sort=title&size=2").get_json()
    rest = client.get(f"{BOOKS}?q=dragon&author_id={writer.id}&sort=title&size=2&cursor={first['next_cursor']}")

    assert [i["id"] for i in first["items"] + rest.get_json()["items"]] == [b.id for b in dragons]
    assert first["total"] == 3


def test_search_is_another_name_for_q(client):
    wanted = BookFactory(title="The Colour of Magic")
    BookFactory(title="Unrelated")

    assert listed(client, "search=magic") == listed(client, "q=magic") == [wanted.id]


def test_search_and_q_together_return_422(client):
    response = client.get(f"{BOOKS}?q=magic&search=magic")

    assert response.status_code == 422
    assert "search" in response.get_json()["errors"]


def test_list_items_carry_links_and_ratings(client):
    book = BookFactory()
    link(book, [author("Writer")], [category("Genre")])
    rate(book, 4)

    item = client.get(BOOKS).get_json()["items"][0]

    assert item["authors"] == [{"id": 1, "name": "Writer"}]
    assert item["categories"] == [{"id": 1, "name": "Genre"}]
    assert (item["average_rating"], item["review_count"]) == (4.0, 1)


def test_deep_offset_page_carries_links(client):
    books = BookFactory.create_batch(5)
    link(books[4], [author("Last")])

    item = client.get(f"{BOOKS}?page=5&size=1").get_json()["items"][0]

    assert item["authors"] == [{"id": 1, "name": "Last"}]
