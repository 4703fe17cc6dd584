"""Reviews: one per reader and book, never of one's own book; a book's reviews listed; only the author changes one;
the book's count and average kept in step by the database."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from bookapi.extensions import db
from bookapi.reviews.models import Review
from tests.accounts import at_once
from tests.conftest import sign_in
from tests.factories import BookFactory, ReviewFactory, UserFactory
from tests.pages import walk

REVIEWS = "/api/v1/reviews"
REVIEW_FIELDS = ["id", "book_id", "user_id", "rating", "comment", "reviewer", "created_at", "updated_at"]
WRITTEN = datetime(2026, 3, 1, tzinfo=timezone.utc)


def book_reviews(book_id):
    return f"/api/v1/books/{book_id}/reviews"


@pytest.fixture
def book():
    return BookFactory()


@pytest.fixture
def reader():
    return UserFactory(display_name="Ada Reader", email="ada@example.com")


@pytest.fixture
def reader_client(app, reader):
    return sign_in(app.test_client(), reader)


@pytest.fixture
def review(book, reader):
    return ReviewFactory(book_id=book.id, user_id=reader.id, rating=4, comment="Good.\nVery good.")


def other_client(app, role="user"):
    return sign_in(app.test_client(), UserFactory(role=role))


def ratings_of(book_id):
    """The book's stored figures, and the same figures computed from its reviews."""
    stored = db.session.execute(text("SELECT review_count, average_rating FROM books WHERE id = :id"),
                                {"id": book_id}).one()
    computed = db.session.execute(text("SELECT count(*), round(avg(rating), 2) FROM reviews WHERE book_id = :id"),
                                  {"id": book_id}).one()
    return tuple(stored), tuple(computed)


# Creating


def test_create_review_returns_201_with_location_and_the_review(reader_client, reader, book):
    response = reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 5, "comment": "Loved it.\r\n\tTruly."})

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"{REVIEWS}/{body['id']}"
    assert list(body) == REVIEW_FIELDS
    assert (body["book_id"], body["user_id"], body["rating"], body["comment"]) == (
        book.id, reader.id, 5, "Loved it.\r\n\tTruly.")
    assert body["created_at"] == body["updated_at"]


def test_create_review_shows_the_reviewer_without_their_email(reader_client, reader, book):
    body = reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 3}).get_json()

    assert body["reviewer"] == {"id": reader.id, "display_name": "Ada Reader"}
    assert "ada@example.com" not in str(body)


def test_create_review_without_a_comment_stores_null(reader_client, book):
    response = reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 1})

    assert response.status_code == 201
    assert response.get_json()["comment"] is None


def test_create_review_answers_with_the_etag_a_read_then_gives(reader_client, anonymous, book):
    created = reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 2, "comment": "Meh"})

    read = anonymous.get(created.headers["Location"])

    assert read.status_code == 200
    assert read.get_json() == created.get_json()
    assert created.headers["ETag"] == read.headers["ETag"]


@pytest.mark.parametrize("changes", [
    {"rating": "4"}, {"rating": 4.5}, {"rating": 4.0}, {"rating": True}, {"rating": 0}, {"rating": 6},
    {"rating": -1}, {"rating": None}, {"rating": 2**40}, {"comment": "x" * 5_001}, {"comment": "bad\x00byte"},
    {"comment": "bell\x07"}, {"comment": 42}, {"book_id": "1"}, {"book_id": None}, {"book_id": 1.5},
    {"user_id": 1}, {"id": 5}, {"reviewer": {"id": 1}}, {"created_at": "2020-01-01T00:00:00+00:00"},
    {"extra": True},
], ids=repr)
def test_create_review_with_invalid_values_returns_422(reader_client, book, changes):
    response = reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 4, **changes})

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == set(changes)
    assert db.session.scalar(text("SELECT count(*) FROM reviews")) == 0


@pytest.mark.parametrize("missing", ["book_id", "rating"])
def test_create_review_without_a_required_field_returns_422(reader_client, book, missing):
    body = {"book_id": book.id, "rating": 4}
    del body[missing]

    response = reader_client.post(REVIEWS, json=body)

    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == [missing]


def test_create_review_with_a_comment_of_5000_characters_returns_201(reader_client, book):
    response = reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 4, "comment": "x" * 5_000})

    assert response.status_code == 201


def test_database_refuses_a_rating_out_of_range(book, reader):
    with pytest.raises(IntegrityError, match="ck_reviews_rating_in_range"):
        db.session.execute(insert(Review).values(book_id=book.id, user_id=reader.id, rating=6))
    db.session.rollback()


@pytest.mark.parametrize("book_id", [999_999, 0, -3, 2**63])
def test_create_review_of_a_missing_book_returns_404(reader_client, book_id):
    response = reader_client.post(REVIEWS, json={"book_id": book_id, "rating": 4})

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Book with id {book_id} not found"


def test_create_review_of_your_own_book_returns_400(app):
    editor = UserFactory(role="editor")
    book = BookFactory(created_by=editor.id)

    response = sign_in(app.test_client(), editor).post(REVIEWS, json={"book_id": book.id, "rating": 5})

    assert response.status_code == 400
    assert response.get_json()["detail"] == "You cannot review your own book"


def test_create_a_second_review_of_a_book_returns_400(reader_client, review, book):
    response = reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 1})

    assert response.status_code == 400
    assert response.get_json()["detail"] == "You have already reviewed this book"


def test_parallel_reviews_of_a_book_by_one_reader_yield_one_201(app, reader, book):
    clients = [sign_in(app.test_client(), reader) for _ in range(6)]

    responses = at_once(*(lambda c=c: c.post(REVIEWS, json={"book_id": book.id, "rating": 3}) for c in clients))

    assert sorted(response.status_code for response in responses) == [201] + [400] * 5
    refusals = {response.get_json()["detail"] for response in responses if response.status_code == 400}
    assert refusals == {"You have already reviewed this book"}
    assert ratings_of(book.id)[0] == (1, 3)


def test_create_review_with_an_idempotency_key_replays_the_first_answer(reader_client, book):
    headers = {"Idempotency-Key": "review-once"}
    first = reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 4}, headers=headers)

    again = reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 4}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert ratings_of(book.id)[0] == (1, 4)


# Reading one


def test_get_review_anonymously_returns_200_with_a_strong_etag(anonymous, review, reader):
    response = anonymous.get(f"{REVIEWS}/{review.id}")

    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["rating"], body["comment"]) == (review.id, 4, "Good.\nVery good.")
    assert body["reviewer"] == {"id": reader.id, "display_name": "Ada Reader"}
    assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["ETag"])
    assert response.headers["Last-Modified"]


def test_get_review_with_its_current_etag_returns_304(anonymous, review):
    etag = anonymous.get(f"{REVIEWS}/{review.id}").headers["ETag"]

    response = anonymous.get(f"{REVIEWS}/{review.id}", headers={"If-None-Match": etag})

    assert response.status_code == 304


@pytest.mark.parametrize("review_id", [999_999, 2**63])
def test_get_missing_review_returns_404(anonymous, review_id):
    response = anonymous.get(f"{REVIEWS}/{review_id}")

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Review with id {review_id} not found"


def test_reviewer_without_a_display_name_shows_null(anonymous, book):
    reviewer = UserFactory(display_name=None)
    review = ReviewFactory(book_id=book.id, user_id=reviewer.id)

    assert anonymous.get(f"{REVIEWS}/{review.id}").get_json()["reviewer"] == {"id": reviewer.id, "display_name": None}


# A book's reviews


@pytest.fixture
def reviews(book):
    """Five reviews of ``book``, written in an order that neither their ids nor their ratings follow."""
    return [ReviewFactory(book_id=book.id, rating=rating, created_at=WRITTEN - timedelta(days=days))
            for rating, days in [(3, 2), (5, 4), (1, 1), (4, 5), (5, 3)]]


def ids(response):
    return [item["id"] for item in response.get_json()["items"]]


def test_list_book_reviews_returns_newest_first(anonymous, book, reviews):
    response = anonymous.get(book_reviews(book.id))

    assert response.status_code == 200
    body = response.get_json()
    assert ids(response) == [reviews[i].id for i in (2, 0, 4, 1, 3)]
    assert (body["page"], body["size"], body["total"], body["total_is_estimate"]) == (1, 20, 5, False)
    assert all(list(item) == REVIEW_FIELDS for item in body["items"])


def test_list_book_reviews_holds_only_that_books_reviews(anonymous, book, reviews):
    ReviewFactory()

    assert sorted(ids(anonymous.get(book_reviews(book.id)))) == sorted(review.id for review in reviews)


@pytest.mark.parametrize("sort, order", [
    ("created_at", (3, 1, 4, 0, 2)),
    ("-rating", (4, 1, 3, 0, 2)),
    ("rating,-created_at", (2, 0, 3, 4, 1)),
    ("-rating,created_at", (1, 4, 3, 0, 2)),
])
def test_list_book_reviews_sorts_them(anonymous, book, reviews, sort, order):
    response = anonymous.get(f"{book_reviews(book.id)}?sort={sort}")

    assert (response.status_code, ids(response)) == (200, [reviews[i].id for i in order])


@pytest.mark.parametrize("query", ["", "sort=rating", "sort=-rating", "sort=created_at"])
def test_list_book_reviews_cursor_walk_visits_every_review_once_in_order(anonymous, book, reviews, query):
    ReviewFactory.create_batch(4, book_id=book.id, rating=5)
    url = f"{book_reviews(book.id)}?{query}"
    expected = ids(anonymous.get(f"{url}&size=100"))

    assert walk(anonymous, f"{url}&size=2", "id") == expected
    assert len(expected) == 9


def test_list_book_reviews_walks_back_with_prev_cursor(anonymous, book, reviews):
    url = f"{book_reviews(book.id)}?sort=-rating&size=2"
    last = anonymous.get(f"{url}&page=3").get_json()

    assert walk(anonymous, url, "id", cursor=last["prev_cursor"], back=True) == ids(
        anonymous.get(f"{book_reviews(book.id)}?sort=-rating"))[:4]


def test_list_book_reviews_links_to_the_next_page(anonymous, book, reviews):
    response = anonymous.get(f"{book_reviews(book.id)}?size=2&sort=rating")

    next_cursor = response.get_json()["next_cursor"]
    assert f'<{book_reviews(book.id)}?size=2&sort=rating&cursor={next_cursor}>; rel="next"' in response.headers["Link"]


def test_list_book_reviews_refuses_a_cursor_of_another_books_list(anonymous, book, reviews):
    other = ReviewFactory.create_batch(2, book_id=BookFactory().id)[0].book_id
    cursor = anonymous.get(f"{book_reviews(other)}?size=1").get_json()["next_cursor"]

    response = anonymous.get(f"{book_reviews(book.id)}?size=1&cursor={cursor}")

    assert response.status_code == 400


def test_list_book_reviews_cuts_items_to_the_fields_asked_for(anonymous, book, reviews):
    items = anonymous.get(f"{book_reviews(book.id)}?fields=id,reviewer").get_json()["items"]

    assert all(list(item) == ["id", "reviewer"] for item in items)


def test_list_book_reviews_shows_no_reviewer_email(anonymous, book, reviews):
    body = anonymous.get(book_reviews(book.id)).get_data(as_text=True)

    assert "@" not in body


def test_list_book_reviews_with_its_current_weak_etag_returns_304(anonymous, book, reviews):
    etag = anonymous.get(book_reviews(book.id)).headers["ETag"]

    response = anonymous.get(book_reviews(book.id), headers={"If-None-Match": etag})

    assert etag.startswith('W/"')
    assert response.status_code == 304


def test_list_book_reviews_changes_its_etag_when_a_review_changes(anonymous, reader_client, book, review):
    etag = anonymous.get(book_reviews(book.id)).headers["ETag"]
    reader_client.patch(f"{REVIEWS}/{review.id}", json={"rating": 1})

    response = anonymous.get(book_reviews(book.id), headers={"If-None-Match": etag})

    assert response.status_code == 200


def test_list_reviews_of_a_book_without_any_returns_an_empty_page(anonymous, book):
    response = anonymous.get(book_reviews(book.id))

    assert response.status_code == 200
    assert (response.get_json()["items"], response.get_json()["total"]) == ([], 0)


@pytest.mark.parametrize("book_id", [999_999, 2**63])
def test_list_reviews_of_a_missing_book_returns_404(anonymous, book_id):
    response = anonymous.get(book_reviews(book_id))

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Book with id {book_id} not found"


@pytest.mark.parametrize("query", ["sort=title", "sort=comment", "sort=id", "sort=rating,rating", "fields=email",
                                   "fields=id,user_email", "book_id=3", "user_id=1", "size=101", "page=0",
                                   "page=1&cursor=abc"])
def test_list_book_reviews_with_an_invalid_argument_returns_422(anonymous, book, reviews, query):
    response = anonymous.get(f"{book_reviews(book.id)}?{query}")

    assert response.status_code == 422
    assert response.get_json()["errors"]


# Changing and deleting


def test_put_review_by_its_author_changes_the_fields_sent(reader_client, review):
    response = reader_client.put(f"{REVIEWS}/{review.id}", json={"rating": 2})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["rating"], body["comment"]) == (2, "Good.\nVery good.")
    assert body["updated_at"] > body["created_at"]


def test_patch_review_with_null_clears_the_comment(reader_client, review):
    response = reader_client.patch(f"{REVIEWS}/{review.id}", json={"comment": None},
                                   content_type="application/merge-patch+json")

    assert response.status_code == 200
    assert (response.get_json()["comment"], response.get_json()["rating"]) == (None, 4)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_change_review_answers_with_the_etag_a_read_then_gives(reader_client, anonymous, review, method):
    changed = getattr(reader_client, method)(f"{REVIEWS}/{review.id}", json={"comment": "Changed my mind."})

    read = anonymous.get(f"{REVIEWS}/{review.id}")

    assert changed.status_code == 200
    assert (changed.get_json(), changed.headers["ETag"]) == (read.get_json(), read.headers["ETag"])


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("role", ["user", "admin"])
def test_change_someone_elses_review_returns_403(app, review, method, role):
    response = getattr(other_client(app, role), method)(f"{REVIEWS}/{review.id}", json={"rating": 1})

    assert response.status_code == 403
    assert response.get_json()["detail"] == "You can only update your own reviews"
    assert ratings_of(review.book_id)[0] == (1, 4)


@pytest.mark.parametrize("changes", [
    {"book_id": 2}, {"user_id": 2}, {"id": 9}, {"rating": "5"}, {"rating": 2.5}, {"rating": False},
    {"rating": None}, {"rating": 9}, {"comment": "y" * 5_001}, {"comment": "\x1b[31m"}, {"reviewer": None},
], ids=repr)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_change_review_with_invalid_values_returns_422(reader_client, review, method, changes):
    response = getattr(reader_client, method)(f"{REVIEWS}/{review.id}", json=changes)

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == set(changes)


def test_change_missing_review_returns_404(reader_client):
    response = reader_client.patch(f"{REVIEWS}/999999", json={"rating": 3})

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Review with id 999999 not found"


def test_change_review_with_the_current_etag_returns_200(reader_client, review):
    etag = reader_client.get(f"{REVIEWS}/{review.id}").headers["ETag"]

    response = reader_client.patch(f"{REVIEWS}/{review.id}", json={"rating": 5}, headers={"If-Match": etag})

    assert response.status_code == 200


def test_change_review_with_a_stale_etag_returns_412_and_changes_nothing(reader_client, review):
    stale = reader_client.get(f"{REVIEWS}/{review.id}").headers["ETag"]
    reader_client.patch(f"{REVIEWS}/{review.id}", json={"rating": 5})

    response = reader_client.put(f"{REVIEWS}/{review.id}", json={"rating": 1}, headers={"If-Match": stale})

    assert response.status_code == 412
    assert reader_client.get(f"{REVIEWS}/{review.id}").get_json()["rating"] == 5


def test_delete_review_by_its_author_returns_200_and_removes_it(reader_client, anonymous, review):
    response = reader_client.delete(f"{REVIEWS}/{review.id}")

    assert response.status_code == 200
    assert response.get_json() == {"message": "Review deleted successfully"}
    assert anonymous.get(f"{REVIEWS}/{review.id}").status_code == 404


def test_delete_someone_elses_review_as_an_admin_returns_200(client, review):
    response = client.delete(f"{REVIEWS}/{review.id}")

    assert response.status_code == 200
    assert ratings_of(review.book_id)[0] == (0, None)


@pytest.mark.parametrize("role", ["user", "editor"])
def test_delete_someone_elses_review_returns_403(app, review, role):
    response = other_client(app, role).delete(f"{REVIEWS}/{review.id}")

    assert response.status_code == 403
    assert response.get_json()["detail"] == "You can only delete your own reviews"
    assert app.test_client().get(f"{REVIEWS}/{review.id}").status_code == 200


def test_delete_review_with_a_stale_etag_returns_412(reader_client, review):
    stale = reader_client.get(f"{REVIEWS}/{review.id}").headers["ETag"]
    reader_client.patch(f"{REVIEWS}/{review.id}", json={"comment": "Edited."})

    response = reader_client.delete(f"{REVIEWS}/{review.id}", headers={"If-Match": stale})

    assert response.status_code == 412
    assert reader_client.get(f"{REVIEWS}/{review.id}").status_code == 200


def test_delete_missing_review_returns_404(reader_client):
    response = reader_client.delete(f"{REVIEWS}/999999")

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Review with id 999999 not found"


# The book's figures


def test_review_sets_the_books_count_and_average(reader_client, app, book):
    reader_client.post(REVIEWS, json={"book_id": book.id, "rating": 5})
    other_client(app).post(REVIEWS, json={"book_id": book.id, "rating": 2})

    stored, computed = ratings_of(book.id)
    assert stored == computed == (2, pytest.approx(3.5))


def test_concurrent_reviews_keep_the_books_count_and_average_exact(app, book):
    ratings = [1, 2, 3, 4, 5, 5, 4, 4, 2, 1, 5, 3]
    clients = [sign_in(app.test_client(), UserFactory()) for _ in ratings]

    responses = at_once(*(lambda c=c, r=r: c.post(REVIEWS, json={"book_id": book.id, "rating": r})
                          for c, r in zip(clients, ratings)))

    assert [response.status_code for response in responses] == [201] * len(ratings)
    stored, computed = ratings_of(book.id)
    assert stored == computed
    assert stored[0] == len(ratings)


def test_concurrent_changes_and_deletes_keep_the_books_figures_exact(app, book):
    authors = UserFactory.create_batch(10)
    reviews = [ReviewFactory(book_id=book.id, user_id=author.id, rating=3) for author in authors]
    clients = [sign_in(app.test_client(), author) for author in authors]

    def change(index):
        path = f"{REVIEWS}/{reviews[index].id}"
        if index % 3 == 0:
            return clients[index].delete(path)
        return clients[index].patch(path, json={"rating": 1 + index % 5})

    responses = at_once(*(lambda i=i: change(i) for i in range(len(reviews))))

    assert {response.status_code for response in responses} == {200}
    stored, computed = ratings_of(book.id)
    assert stored == computed
    assert stored[0] == 6


def test_deleting_a_reader_removes_their_reviews_from_the_books_figures(book):
    readers = UserFactory.create_batch(3)
    for reader, rating in zip(readers, (5, 1, 3)):
        ReviewFactory(book_id=book.id, user_id=reader.id, rating=rating)

    db.session.delete(readers[0])
    db.session.commit()

    stored, computed = ratings_of(book.id)
    assert stored == computed == (2, pytest.approx(2))


def test_deleting_a_book_deletes_its_reviews(client, review):
    assert client.delete(f"/api/v1/books/{review.book_id}").status_code == 200

    assert client.get(f"{REVIEWS}/{review.id}").status_code == 404


def test_review_advertises_its_patch_media_types(anonymous):
    review = ReviewFactory()

    response = anonymous.get(f"/api/v1/reviews/{review.id}")

    assert response.headers["Accept-Patch"] == "application/merge-patch+json, application/json"
