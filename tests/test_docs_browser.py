"""Swagger UI and ReDoc render in a real headless browser, from this server alone (no CDN)."""
import os
import shutil
import subprocess
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

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


def rendered_dom(url):
    """The page's DOM after its scripts ran, with every request to another host refused."""
    assert CHROMIUM, "CI must have Chromium for the browser tests"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--user-data-dir=" + os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bookapi-chromium-{os.getpid()}"),
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_swagger_ui_lists_every_operation(live_server, client):
    dom = rendered_dom(f"{live_server}/apidocs/")

    assert 'class="swagger-ui' in dom
    paths = client.get("/openapi.json").get_json()["paths"]
    for path, operations in paths.items():
        for operation in operations.values():
            assert operation["operationId"] in dom, operation["operationId"]


def test_redoc_renders_the_document(live_server):
    dom = rendered_dom(f"{live_server}/redoc")

    assert "Book Store API" in dom
    assert "Add a book; its ISBN must not be in the catalogue yet." in dom
