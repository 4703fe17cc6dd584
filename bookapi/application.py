"""The Flask application class bookapi runs on."""
from inspect import iscoroutinefunction

from flask import Flask

# Functions whose answer is kept: the views, the hooks and the error handlers, a few dozen in all. The bound is
# there only so that functions made anew for each request (closures) could not grow the dict without end.
KEPT_ANSWERS = 1024


class BookApi(Flask):
    """Flask, asking once per function rather than on every call whether it is a coroutine function.

    Flask calls ``ensure_sync`` on each view, hook and handler of every request, about sixteen times per book
    lookup, and ``inspect.iscoroutinefunction`` is several attribute and flag checks each time: together about a
    twentieth of what a lookup costs in the app. The answer cannot change for a given function; a bound method
    (a class-based view's, made for each request) is asked about the function it binds.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.coroutine_functions = {}

    def ensure_sync(self, func):
        function = getattr(func, "__func__", func)
        try:
            coroutine = self.coroutine_functions[function]
        except KeyError:
            coroutine = iscoroutinefunction(function)
            if len(self.coroutine_functions) < KEPT_ANSWERS:
                self.coroutine_functions[function] = coroutine
        except TypeError:  # unhashable: asked anew each time
            coroutine = iscoroutinefunction(function)
        return self.async_to_sync(func) if coroutine else func
