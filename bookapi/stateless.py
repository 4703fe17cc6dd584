"""The API authenticates nothing by cookie, so requests skip Flask's signed-cookie session entirely."""
from flask.sessions import SessionInterface


class NoSessions(SessionInterface):
    def open_session(self, app, request):
        return None

    def save_session(self, app, session, response):
        raise RuntimeError("bookapi keeps no cookie session")
