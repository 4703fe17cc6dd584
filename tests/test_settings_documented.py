"""Every environment variable the code reads is explained in .env.example."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READERS = re.compile(r"""(?:os\.environ\.get|os\.environ\[|env_int|database_url)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
SHELL_DEFAULTS = re.compile(r"\$\{([A-Z][A-Z0-9_]+):-")


def variables_read():
    names = set()
    for path in [*ROOT.joinpath("bookapi").rglob("*.py"), *ROOT.joinpath("benchmarks").glob("*.py"),
                 ROOT / "gunicorn.conf.py"]:
        names |= set(READERS.findall(path.read_text()))
    for path in ROOT.joinpath("docker").glob("*.sh"):
        names |= set(SHELL_DEFAULTS.findall(path.read_text()))
    return names


def test_every_setting_is_in_env_example():
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))

    assert variables_read() - documented == set()
    assert {"DATABASE_URL", "SECRET_KEY", "PORT", "WEB_CONCURRENCY"} <= variables_read()
