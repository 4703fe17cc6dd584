"""The gunicorn worker bookapi is served by (gunicorn.conf.py): gunicorn's sync worker, which also stops when the
master has shut the listening socket down."""
import errno
import socket

from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker


def listening(listener):
    return bool(listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


class SyncWorker(GunicornSyncWorker):
    """On SIGTERM the master tells each worker to stop and then shuts the listening socket down (gunicorn.conf.py,
    ``refuse_connections_on_term``). A worker that is between its look at ``alive`` and its ``accept`` when the socket
    is shut, before its own signal handler has run, gets EINVAL from ``accept``: the socket no longer listens. That
    means stop, as the signal on its way says; gunicorn's worker would crash with a traceback instead.

    Its name ends in ``SyncWorker``, so gunicorn still serves with its threaded worker when GUNICORN_THREADS > 1."""

    def accept(self, listener):
        try:
            super().accept(listener)
        except OSError as error:
            if error.errno != errno.EINVAL or listening(listener):
                raise
            self.alive = False
