"""The Flask application class bookapi runs on."""
from flask import Flask

# Functions whose answer is kept: the views, the hooks and the error handlers, a few dozen in all. The bound is
# there only so that a function made anew for each request (a closure, say) could not grow the dict without end.
KEPT_ANSWERS = 1024


class BookApi(Flask):
    """Flask, asking once per function rather than on every call whether it is a coroutine function.

    Flask calls ``ensure_sync`` on each view, hook and handler of every request, about sixteen times per book
    lookup, and ``inspect.iscoroutinefunction`` is several attribute and flag checks each time: together about a
    twentieth of what a lookup costs in the app. The answer cannot change for a given function.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.synchronous = {}

    def ensure_sync(self, func):
        try:
            return self.synchronous[func]
        except KeyError:
            pass
        except TypeError:  # unhashable: asked anew each time
            return super().ensure_sync(func)
        answer = super().ensure_sync(func)
        if len(self.synchronous) < KEPT_ANSWERS:
            self.synchronous[func] = answer
        return answer
