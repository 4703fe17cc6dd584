"""Transactions that lose to a concurrent one run once more; a second loss is a conflict (409 from the API).

PostgreSQL aborts one of two transactions that deadlock (SQLSTATE 40P01), and one whose snapshot a concurrent
commit has made stale under REPEATABLE READ or SERIALIZABLE (40001). Neither is the caller's fault, and the same
work run again at once usually succeeds.
"""
import functools
import logging

from sqlalchemy.exc import DBAPIError

from bookapi.extensions import db

log = logging.getLogger(__name__)
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_conflict(error):
    """Whether ``error`` says that its transaction lost to a concurrent one: a deadlock or a serialization failure."""
    return isinstance(error, DBAPIError) and getattr(error.orig, "pgcode", None) in CONFLICT_SQLSTATES


def retry_once_on_conflict(work, rollback=None):
    """``work()``, run once more if its transaction lost to a concurrent one.

    ``rollback`` ends the lost transaction first, for work that leaves it open (the request's session).
    """
    try:
        return work()
    except DBAPIError as error:
        if not is_conflict(error):
            raise
        log.warning("transaction conflict (SQLSTATE %s), running it once more", error.orig.pgcode)
    if rollback is not None:
        rollback()
    return work()


def retrying_view(view):
    @functools.wraps(view)
    def retrying(**kwargs):
        return retry_once_on_conflict(functools.partial(view, **kwargs), rollback=db.session.rollback)

    return retrying


def init_app(app):
    """Make every write view run once more after a conflict; call it once the blueprints are registered.

    Reads are left as they are: they take no locks, and GET requests are the hot path.
    """
    for endpoint in {rule.endpoint for rule in app.url_map.iter_rules() if rule.methods & WRITE_METHODS}:
        app.view_functions[endpoint] = retrying_view(app.view_functions[endpoint])
