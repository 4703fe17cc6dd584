"""Rate limits (Flask-Limiter), kept in Redis so that every worker and instance shares them.

A view names the limits it is under (``@rate_limited("login")``); ``init_app`` applies them with a limiter of the
app's own, after every blueprint is registered. Authenticated writes are also limited per account
(``RATELIMIT_WRITES``). When Redis is unreachable the limits fall back to each process's memory, with one warning,
and move back to Redis once it answers again. Answers on limited routes carry the IETF ``RateLimit-Policy`` and
``RateLimit`` headers (draft-ietf-httpapi-ratelimit-headers).
"""
import functools
import math
import time
from dataclasses import dataclass
from typing import Callable

from flask import current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.errors import StorageError

from bookapi import metrics
from bookapi.access import access_of
from bookapi.extensions import db

EXTENSION = "bookapi.limits"
# The endpoints whose views name limits of their own (``rate_limited``), reads included.
LIMITED_ENDPOINTS = "bookapi.limits.named"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Redis must answer quickly or be treated as away: a rate limit is not worth a slow request. Its failures reach us
# as the limits library's StorageError, whatever the client raised.
REDIS_OPTIONS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25, "wrap_exceptions": True}


def login_email():
    """The account a login names (as login normalises it): failed attempts count against the account too."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    # A login without an email is refused before it could fail; its key only must not be empty.
    return email.strip().lower() if isinstance(email, str) and email.strip() else "(no email)"


def caller_id():
    return str(g.user.id)


def failed_login(response):
    return response.status_code == 401


@dataclass(frozen=True)
class Policy:
    setting: str
    key: Callable = get_remote_address
    deduct_when: Callable | None = None


POLICIES = {
    "login": Policy("RATELIMIT_LOGIN"),
    "login-account": Policy("RATELIMIT_LOGIN_ACCOUNT", login_email, failed_login),
    "register": Policy("RATELIMIT_REGISTER"),
    "refresh": Policy("RATELIMIT_REFRESH"),
    "writes": Policy("RATELIMIT_WRITES", caller_id),
}


def rate_limited(*names):
    """Declare the limits a view is under, by their names in ``POLICIES``."""
    unknown = set(names) - set(POLICIES)
    if unknown:
        raise ValueError(f"unknown rate limits {sorted(unknown)}")

    def mark(view):
        view.rate_limits = names
        return view

    return mark


def policies_of(view, methods):
    names = list(getattr(view, "rate_limits", ()))
    access = access_of(view)
    if access is not None and access.login and set(methods) & set(WRITE_METHODS):
        names.append("writes")
    return names


def limited(limiter, view, name):
    policy = POLICIES[name]
    return limiter.limit(
        lambda: current_app.config[policy.setting], key_func=policy.key, deduct_when=policy.deduct_when, scope=name,
    )(view)


def database_released(view):
    """``view``, its limits checked only once the request's transaction so far (the authentication's read) has
    ended: the check may wait on Redis, and a connection must not sit out of the pool, idle in a transaction,
    meanwhile. The account read stays loaded (the session keeps objects on commit)."""

    @functools.wraps(view)
    def run(**kwargs):
        db.session.commit()
        return view(**kwargs)

    return run


def unlimited_read():
    """Whether this request is a read (GET, HEAD, OPTIONS) of a view that names no limits of its own: the limits
    apply to writes and to the routes that name them, and this lets the hot reads skip the limiter's work."""
    current = request._get_current_object()
    return current.method in SAFE_METHODS and (
        current.endpoint not in current_app._get_current_object().extensions[LIMITED_ENDPOINTS])


class LimitedRequestsOnly:
    """The app as Flask-Limiter's ``init_app`` sees it: the request hooks it registers (its check, its headers,
    its clean-up) are skipped on unlimited reads, which would otherwise pay for all three to learn that no limit
    applies. Everything else is the app's own."""

    def __init__(self, app):
        self._app = app

    def __getattr__(self, name):
        return getattr(self._app, name)

    def before_request(self, hook):
        return self._app.before_request(skipped_on_unlimited_reads(hook))

    def after_request(self, hook):
        return self._app.after_request(skipped_on_unlimited_reads(hook, passes_on=True))

    def teardown_request(self, hook):
        return self._app.teardown_request(skipped_on_unlimited_reads(hook))


def skipped_on_unlimited_reads(hook, passes_on=False):
    """``hook``, run unless the request is an unlimited read; an after-request hook (``passes_on``) skipped hands
    the response on unchanged."""

    @functools.wraps(hook)
    def run(*args):
        if unlimited_read():
            return args[0] if passes_on else None
        return hook(*args)

    return run


def policy_name(request_limit):
    """The limit's scope, which Flask-Limiter qualifies with the endpoint ("auth.login:login"): the policy's name."""
    return request_limit.request_args[-1].rpartition(":")[2]


def count_rejection(request_limit):
    metrics.RATE_LIMITED.labels(policy_name(request_limit)).inc()


def advertise(response):
    """The IETF headers for the limit nearest to running out on this request, if it was under one."""
    if unlimited_read():
        return response
    request_limit = current_app.extensions[EXTENSION].current_limit
    if request_limit is None:
        return response
    name, item = policy_name(request_limit), request_limit.limit
    try:
        # Read from the storage now: Redis may have gone away since the limit was checked.
        window = request_limit.window
    except StorageError:
        metrics.REDIS_ERRORS.labels("rate_limit").inc()
        return response
    # From the window's own reset time: ``reset_at`` is already rounded up to a whole second, and rounding the
    # clock down as well told clients a second more than the window has (t=61 on a 60-second window).
    seconds_left = max(0, math.ceil(window.reset_time - time.time()))
    response.headers["RateLimit-Policy"] = f'"{name}";q={item.amount};w={item.get_expiry()}'
    response.headers["RateLimit"] = f'"{name}";r={max(0, request_limit.remaining)};t={seconds_left}'
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, seconds_left))
    return response


def readiness():
    """``{"redis": "ok" | "degraded"}`` when the limits are kept in Redis: without it they still hold, per process."""
    limiter = current_app.extensions.get(EXTENSION)
    if limiter is None or not current_app.config["RATELIMIT_STORAGE_URI"].startswith("redis"):
        return {}
    if limiter.storage.check():
        return {"redis": "ok"}
    metrics.REDIS_ERRORS.labels("readiness").inc()
    return {"redis": "degraded"}


def init_app(app):
    """Apply the declared limits; call once every blueprint is registered."""
    if not app.config["RATELIMIT_ENABLED"]:
        return
    # A copy: Flask-Limiter updates the options it is given with RATELIMIT_STORAGE_OPTIONS, in place.
    limiter = Limiter(
        key_func=get_remote_address, storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        storage_options=dict(REDIS_OPTIONS) if app.config["RATELIMIT_STORAGE_URI"].startswith("redis") else {},
        in_memory_fallback_enabled=True, swallow_errors=True, key_prefix="bookapi", headers_enabled=False,
        on_breach=count_rejection,
    )
    metrics.count_limiter_storage_failures(limiter.logger)
    limiter.init_app(LimitedRequestsOnly(app))
    methods = {rule.endpoint: rule.methods for rule in app.url_map.iter_rules()}
    app.extensions[LIMITED_ENDPOINTS] = {
        endpoint for endpoint, view in app.view_functions.items() if getattr(view, "rate_limits", ())
    }
    for endpoint, view in list(app.view_functions.items()):
        names = policies_of(view, methods.get(endpoint, ()))
        for name in names:
            view = limited(limiter, view, name)
        app.view_functions[endpoint] = database_released(view) if names else view
    limiter.request_filter(unlimited_read)
    app.extensions[EXTENSION] = limiter
    app.after_request(advertise)
