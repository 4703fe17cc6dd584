"""A TCP proxy in front of the test database that a test can cut and restore, to stage an outage, or have lose the
server's answer to one message."""
import os
import socket
import threading

from sqlalchemy.engine import make_url


def upstream_address(database_url):
    """``(family, address)`` of the server behind a PostgreSQL URL: TCP host and port, or its unix socket."""
    url = make_url(database_url)
    port = url.port or 5432
    socket_dir = url.query.get("host") or (url.host if url.host and url.host.startswith("/") else None)
    if socket_dir:
        return socket.AF_UNIX, os.path.join(socket_dir, f".s.PGSQL.{port}")
    return socket.AF_INET, (url.host or "127.0.0.1", port)


class TcpProxy:
    def __init__(self, database_url):
        self.family, self.upstream = upstream_address(database_url)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = set()
        self.lock = threading.Lock()
        self.up = threading.Event()
        self.up.set()
        self.unanswered_message = None
        self.answers_lost = set()
        threading.Thread(target=self.accept_forever, daemon=True).start()

    def url_for(self, database_url):
        url = make_url(database_url)
        query = {k: v for k, v in url.query.items() if k != "host"}
        url = url.set(drivername="postgresql+psycopg2", host="127.0.0.1", port=self.port, query=query)
        return url.render_as_string(hide_password=False)

    def accept_forever(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            server = socket.socket(self.family, socket.SOCK_STREAM)
            server.connect(self.upstream)
            with self.lock:
                self.connections.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self.pipe, args=(source, target), daemon=True).start()

    def pipe(self, source, target):
        try:
            while data := source.recv(65536):
                if source in self.answers_lost:
                    break
                if self.unanswered_message is not None and self.unanswered_message in data:
                    # Marked before the message is passed on, so that its answer finds the mark.
                    self.answers_lost.add(target)
                    self.unanswered_message = None
                target.sendall(data)
        except OSError:
            pass
        finally:
            self.close(source)
            self.close(target)

    def close(self, sock):
        with self.lock:
            self.connections.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def cut(self):
        """Refuse new connections and drop the open ones, as a database restart would."""
        self.up.clear()
        with self.lock:
            open_now = list(self.connections)
        for sock in open_now:
            self.close(sock)

    def lose_answer_to(self, message):
        """Pass the next ``message`` (bytes of the wire protocol) a client sends on to the server, and drop that
        connection when the server answers it: the server has acted on it, and the client never hears how."""
        self.unanswered_message = message

    def restore(self):
        self.up.set()

    def shutdown(self):
        self.cut()
        self.listener.close()
