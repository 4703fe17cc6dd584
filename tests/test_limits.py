"""Rate limits on real Redis: brute force, per account and per user, their headers, and Redis going away."""
import logging
import re
import shutil
import socket
import subprocess
import time
import uuid
from contextlib import ExitStack

import pytest
import redis
from flask import request

from bookapi.access import rule_of
from tests.accounts import login, own_app
from tests.conftest import sign_in
from tests.factories import BookFactory, BookPayload, UserFactory

REDIS = "redis://127.0.0.1:6379/0"
POLICY = re.compile(r'"(?:login|login-account|register|refresh|writes)";q=(\d+);w=(\d+)')
REMAINING = re.compile(r'"(?:login|login-account|register|refresh|writes)";r=(\d+);t=(\d+)')
WRONG = "a wrong guess of a password"


@pytest.fixture
def key_prefix():
    """A Redis key prefix of the test's own (other suites use this Redis too); its keys are deleted afterwards."""
    prefix = f"bookapi-authtests-{uuid.uuid4().hex}"
    yield prefix
    connection = redis.Redis.from_url(REDIS)
    for key in connection.scan_iter(f"{prefix}*"):
        connection.delete(key)


@pytest.fixture
def limited(key_prefix):
    """``limited(**settings)``: a client of an app of its own, with limits kept in Redis under the test's prefix."""
    with ExitStack() as apps:
        def client(storage_uri=REDIS, **settings):
            return apps.enter_context(own_app(
                RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=storage_uri,
                RATELIMIT_STORAGE_OPTIONS={"key_prefix": key_prefix}, **settings,
            )).test_client()

        yield client


def at(address):
    return {"environ_base": {"REMOTE_ADDR": address}}


def remaining(response):
    return int(REMAINING.fullmatch(response.headers["RateLimit"])[1])


def seconds_to_reset(response):
    return int(REMAINING.fullmatch(response.headers["RateLimit"])[2])


def test_login_from_one_client_is_limited_to_5_a_minute_with_ratelimit_headers(limited):
    client, user = limited(), UserFactory()

    attempts = [login(client, user.email, WRONG) for _ in range(5)]
    refused = login(client, user.email)

    assert [attempt.status_code for attempt in attempts] == [401] * 5
    assert {POLICY.fullmatch(attempt.headers["RateLimit-Policy"]).groups() for attempt in attempts} == {("5", "60")}
    assert [remaining(attempt) for attempt in attempts] == [4, 3, 2, 1, 0]
    assert all(0 < seconds_to_reset(answer) <= 60 for answer in [*attempts, refused])
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) == seconds_to_reset(refused)
    assert remaining(refused) == 0 and POLICY.fullmatch(refused.headers["RateLimit-Policy"])
    assert login(client, user.email, **at("198.51.100.7")).status_code == 200


def test_failed_logins_for_one_account_are_limited_to_10_an_hour_from_any_client(limited):
    client, user, other = limited(), UserFactory(), UserFactory()
    for attempt in range(10):
        assert login(client, f" {user.email.upper()}", WRONG, **at(f"198.51.100.{attempt}")).status_code == 401

    refused = login(client, user.email, **at("203.0.113.1"))

    assert refused.status_code == 429
    assert POLICY.fullmatch(refused.headers["RateLimit-Policy"]).groups() == ("10", "3600")
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert login(client, other.email, **at("203.0.113.1")).status_code == 200


def test_successful_logins_do_not_count_against_the_account(limited):
    client, user = limited(), UserFactory()

    statuses = [login(client, user.email, **at(f"198.51.100.{attempt}")).status_code for attempt in range(11)]

    assert statuses == [200] * 11


def test_register_is_limited_per_client(limited):
    client = limited(RATELIMIT_REGISTER="2/hour")
    bodies = [{"email": f"new{n}@example.com", "password": "quiet lantern orchard 2041"} for n in range(3)]

    answers = [client.post("/api/v1/auth/register", json=body) for body in bodies]

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert [remaining(answer) for answer in answers] == [1, 0, 0]
    assert client.post("/api/v1/auth/register", json=bodies[2], **at("198.51.100.7")).status_code == 201


def test_refresh_is_limited_per_client(limited):
    client = limited(RATELIMIT_REFRESH="2/hour")
    refresh_token = login(client, UserFactory().email).get_json()["refresh_token"]

    answers = []
    for _ in range(3):
        answers.append(client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token}))
        refresh_token = answers[-1].get_json().get("refresh_token", refresh_token)

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert POLICY.fullmatch(answers[0].headers["RateLimit-Policy"]).groups() == ("2", "3600")


def test_writes_are_limited_per_user_and_reads_are_not(limited):
    client = limited(RATELIMIT_WRITES="2/minute")
    editor, other = UserFactory(role="editor"), UserFactory(role="editor")
    sign_in(client, editor)

    answers = [client.post("/api/v1/books", json=BookPayload()) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert POLICY.fullmatch(answers[0].headers["RateLimit-Policy"]).groups() == ("2", "60")
    read = client.get("/api/v1/books")
    assert read.status_code == 200 and "RateLimit" not in read.headers
    assert sign_in(client, other).post("/api/v1/books", json=BookPayload()).status_code == 201


def test_limited_app_keeps_every_access_rule(limited):
    client = limited()
    app = client.application

    assert [rule.rule for rule in app.url_map.iter_rules() if rule_of(app, rule.endpoint) is None] == []
    assert client.post("/api/v1/books", json=BookPayload()).status_code == 401
    assert sign_in(client, UserFactory(role="user")).post("/api/v1/books", json=BookPayload()).status_code == 403


def free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def limiter_records(caplog, level):
    return [record for record in caplog.records if record.name == "flask-limiter" and record.levelno >= level]


@pytest.fixture
def unreachable_redis_client(limited):
    # Made before the test runs: an app configures the root logger when it is created, and the test's log
    # capture is attached after set-up.
    return limited(storage_uri=f"redis://127.0.0.1:{free_port()}/0")


def test_unreachable_redis_falls_back_to_memory_limits_with_one_warning(unreachable_redis_client, caplog):
    caplog.set_level(logging.INFO)
    client, user = unreachable_redis_client, UserFactory()

    statuses = [login(client, user.email, WRONG).status_code for _ in range(6)]

    assert statuses == [401] * 5 + [429]
    assert client.get("/api/v1/books").status_code == 200
    assert len(limiter_records(caplog, logging.WARNING)) == 1
    assert limiter_records(caplog, logging.ERROR) == []


@pytest.fixture
def redis_server(tmp_path):
    """``(url, start, stop)`` of a redis-server of the test's own, on a free port."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port, processes = free_port(), []

    def start():
        processes.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL))
        connection = redis.Redis(port=port)
        for _ in range(100):
            try:
                return connection.ping()
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop():
        processes[-1].terminate()
        processes[-1].wait()

    yield f"redis://127.0.0.1:{port}/0", start, stop
    if processes[-1].poll() is None:
        stop()


@pytest.fixture
def own_redis_client(limited, redis_server):
    """A client of an app whose limits are kept in the test's own redis-server (made before the test: see above)."""
    url, start, stop = redis_server
    start()
    return limited(storage_uri=url, RATELIMIT_WRITES="100/minute")


def test_limits_move_back_to_redis_when_it_returns(own_redis_client, redis_server, caplog):
    url, start, stop = redis_server
    client = sign_in(own_redis_client, UserFactory())
    assert client.patch("/api/v1/auth/me", json={}).status_code == 200
    assert redis.Redis.from_url(url).keys()
    caplog.set_level(logging.INFO)

    stop()
    assert [client.patch("/api/v1/auth/me", json={}).status_code for _ in range(3)] == [200] * 3
    start()

    deadline = time.monotonic() + 40
    while not redis.Redis.from_url(url).keys() and time.monotonic() < deadline:
        assert client.patch("/api/v1/auth/me", json={}).status_code == 200
        time.sleep(0.5)
    assert redis.Redis.from_url(url).keys()
    assert len(limiter_records(caplog, logging.WARNING)) == 1


def test_redis_gone_between_the_check_and_the_headers_leaves_a_write_answered_without_them(own_redis_client,
                                                                                           redis_server):
    url, start, stop = redis_server
    gone = []

    # Registered after the limits' own after-request hook, so run before it: Redis stops once the limit is
    # checked and the write done, as the headers are about to be read from it.
    @own_redis_client.application.after_request
    def stop_redis_after_the_write(response):
        if request.method == "PATCH" and not gone:
            gone.append(stop())
        return response

    client = sign_in(own_redis_client, UserFactory())
    response = client.patch("/api/v1/auth/me", json={"display_name": "Still Here"})

    assert gone
    assert response.status_code == 200
    assert response.get_json()["display_name"] == "Still Here"
    assert "RateLimit" not in response.headers


def test_storage_options_of_one_app_leave_later_apps_alone(key_prefix):
    marker = f"authtests-{uuid.uuid4().hex}"  # in both the client address and the email, so in every key
    with own_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS,
                 RATELIMIT_STORAGE_OPTIONS={"key_prefix": key_prefix}):
        pass

    with own_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS) as app:
        login(app.test_client(), f"{marker}@example.com", WRONG, **at(marker))

    connection = redis.Redis.from_url(REDIS)
    keys = [key.decode() for key in connection.scan_iter(f"*{marker}*")]
    connection.delete(*keys)
    assert len(keys) == 2 and all(key.startswith("LIMITS:") for key in keys), keys


class SilentRedis:
    """A Redis address that accepts connections and never answers, as a hung server does; ``heard()`` says
    whether anything reached it (a connection or a command) since it was last asked."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.connections = []

    def heard(self):
        heard = False
        while True:
            try:
                connection, _ = self.listener.accept()
            except BlockingIOError:
                break
            connection.setblocking(False)
            self.connections.append(connection)
            heard = True
        for connection in self.connections:
            try:
                heard = bool(connection.recv(65536)) or heard
            except BlockingIOError:
                pass
        return heard

    def close(self):
        for connection in self.connections:
            connection.close()
        self.listener.close()


@pytest.fixture
def silent_redis():
    server = SilentRedis()
    yield server
    server.close()


@pytest.mark.slow
def test_read_does_not_wait_for_a_silent_redis(limited, silent_redis):
    client = limited(storage_uri=silent_redis.url)
    # The login finds Redis silent: its limits fall back to this process's memory, and ask Redis again whether it
    # is back at most after 1, 2, 4, … seconds.
    assert login(client, "nobody@example.com", WRONG).status_code == 401
    with client.application.app_context():
        book_id = BookFactory().id
    time.sleep(2.1)
    assert silent_redis.heard()  # the login's attempts

    response = client.get(f"/api/v1/books/{book_id}")

    assert response.status_code == 200
    # A read that asked Redis whether it is back would have connected to it or sent it a command.
    assert not silent_redis.heard()
