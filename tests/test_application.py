from bookapi.application import KEPT_ANSWERS, BookApi


def test_ensure_sync_returns_a_plain_function_itself_and_keeps_the_answer():
    app = BookApi(__name__)

    def view():
        return "ok"

    assert app.ensure_sync(view) is view
    assert app.ensure_sync(view) is view
    assert app.coroutine_functions == {view: False}


def test_ensure_sync_never_takes_a_coroutine_function_for_a_plain_one():
    app = BookApi(__name__)

    async def view():
        return "ok"

    # Flask wraps it to be run to completion, which needs its async extra; without it, it says so every time.
    for _ in range(2):
        try:
            answer = app.ensure_sync(view)
        except RuntimeError as error:
            assert "async" in str(error)
        else:
            assert answer is not view


def test_ensure_sync_keeps_a_bounded_number_of_answers():
    app = BookApi(__name__)
    functions = [lambda: None for _ in range(KEPT_ANSWERS + 10)]

    assert all(app.ensure_sync(function) is function for function in functions)
    assert len(app.coroutine_functions) == KEPT_ANSWERS


def test_ensure_sync_asks_about_a_bound_method_once_per_function_it_binds():
    class View:
        def dispatch(self):
            return "ok"

    app = BookApi(__name__)
    methods = [View().dispatch for _ in range(3)]

    assert all(app.ensure_sync(method) is method for method in methods)
    assert app.coroutine_functions == {View.dispatch: False}


def test_ensure_sync_answers_for_an_unhashable_callable():
    class Unhashable:
        __hash__ = None

        def __call__(self):
            return "ok"

    app, function = BookApi(__name__), Unhashable()

    assert app.ensure_sync(function) is function


def test_the_factory_builds_a_bookapi(app):
    assert isinstance(app, BookApi)
