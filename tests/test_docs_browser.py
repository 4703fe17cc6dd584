"""Swagger UI and ReDoc render in a real headless browser, from this server alone (no CDN)."""
import os
import re
import shutil
import subprocess
import threading
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium's log line for a console message: [pid:tid:time:INFO:CONSOLE:line] "message", source: url (line)
CONSOLE_MESSAGE = re.compile(r'^\[[^]]*:CONSOLE[^]]*\] "(.*)', re.M)
SWAGGER_UI = "/apidocs/"
# Opens an operation by its deep link, so that its request example is rendered and highlighted too.
OPEN_OPERATION = "#/books/books_create_book"
REDOC = "/redoc"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"), reason="Chromium is not installed"),
]


@pytest.fixture(scope="module")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def render(url):
    """The page's DOM after its scripts ran, and what it logged to the console (Content Security Policy violations
    among it), with every request to another host refused."""
    assert CHROMIUM, "CI must have Chromium for the browser tests"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--user-data-dir=" + os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bookapi-chromium-{os.getpid()}"),
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--enable-logging=stderr",
         "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return SimpleNamespace(dom=result.stdout, console=CONSOLE_MESSAGE.findall(result.stderr))


@pytest.fixture(scope="module")
def rendered(live_server):
    """Each page rendered once for the tests of this module."""
    pages = {}

    def page(path):
        if path not in pages:
            pages[path] = render(live_server + path)
        return pages[path]

    return page


def csp_violations(page):
    return [message for message in page.console if "Content Security Policy" in message]


def test_swagger_ui_lists_every_operation(rendered, client):
    dom = rendered(SWAGGER_UI + OPEN_OPERATION).dom

    assert 'class="swagger-ui' in dom
    paths = client.get("/openapi.json").get_json()["paths"]
    for path, operations in paths.items():
        for operation in operations.values():
            assert operation["operationId"] in dom, operation["operationId"]


def test_swagger_ui_renders_under_its_content_security_policy(rendered, client):
    page = rendered(SWAGGER_UI + OPEN_OPERATION)

    assert "script-src 'self' 'nonce-" in client.get(SWAGGER_UI).headers["Content-Security-Policy"]
    assert "Example Value" in page.dom
    assert csp_violations(page) == []


def test_redoc_renders_the_document(rendered):
    dom = rendered(REDOC).dom

    assert "Book Store API" in dom
    assert "Add a book; its ISBN must not be in the catalogue yet." in dom


def test_redoc_renders_under_its_content_security_policy(rendered, client):
    page = rendered(REDOC)

    assert "script-src 'self' 'nonce-" in client.get(REDOC).headers["Content-Security-Policy"]
    assert "Add a book; its ISBN must not be in the catalogue yet." in page.dom
    assert csp_violations(page) == []


def test_content_security_policy_violation_is_seen():
    """The check above can fail: an inline script a policy forbids is reported."""
    page = render("data:text/html,<meta http-equiv='Content-Security-Policy' content=\"script-src 'none'\">"
                  "<script>document.title = 'ran'</script>")

    assert "<title>ran</title>" not in page.dom
    assert len(csp_violations(page)) == 1
