"""The test suite's own habits, checked so that they hold: one way to log in, no private Flask
API, SQLAlchemy 2 queries only. Each rule reads every module under tests/ (its syntax tree, so
comments and strings never count)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MODULES = sorted(TESTS.rglob("*.py"))

# The login form is submitted by these helpers only (the tests of the form itself aside).
LOGIN_HELPERS = {
    ("tests/conftest.py", "client_for"),  # a test client, as a user or a new user of a role
    ("tests/browser/conftest.py", "log_in"),  # a real browser page (Playwright)
    ("tests/test_accounts.py", "_web_attempt"),  # the rate-limit tests' failing attempts
}
PRIVATE_FLASK = {"_cv_app", "_cv_request", "_app_ctx_stack", "_request_ctx_stack"}


def _name(path: Path) -> str:
    return path.relative_to(TESTS.parent).as_posix()


def _trees():
    return [(_name(path), ast.parse(path.read_text(), str(path))) for path in MODULES]


def _text(node) -> str:
    """The literal text of a string argument, f-strings included ("" for anything else)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(part) for part in node.values)
    return ""


def _submits_login_form(function) -> bool:
    for node in ast.walk(function):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr == "post" and node.args and "/account/login" in _text(node.args[0]):
            return True
        label = node.func.value  # page.get_by_label("Password").fill(...)
        if (
            node.func.attr == "fill"
            and isinstance(label, ast.Call)
            and isinstance(label.func, ast.Attribute)
            and label.func.attr == "get_by_label"
            and label.args
            and _text(label.args[0]) == "Password"
        ):
            return True
    return False


def test_one_way_to_log_in():
    found = set()
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("test_"):
                if _submits_login_form(node):
                    found.add((name, node.name))
    assert found <= LOGIN_HELPERS, (
        f"log in with tests.conftest.client_for (browser: tests.browser.conftest.log_in), "
        f"not {sorted(found - LOGIN_HELPERS)}"
    )
    assert ("tests/conftest.py", "client_for") in found


def test_no_private_flask_api():
    found = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "flask":
                found += [f"{name}:{node.lineno} {a.name}" for a in node.names if a.name[0] == "_"]
            elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_FLASK:
                found.append(f"{name}:{node.lineno} {node.attr}")
            elif isinstance(node, ast.Name) and node.id in PRIVATE_FLASK:
                found.append(f"{name}:{node.lineno} {node.id}")
    assert not found, "use app.app_context() / app.test_request_context(): " + ", ".join(found)


def test_queries_are_sqlalchemy_2_style():
    found = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            legacy_call = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "query"
            )
            model_query = (  # Flask-SQLAlchemy's Model.query
                isinstance(node, ast.Attribute)
                and node.attr == "query"
                and isinstance(node.value, ast.Name)
                and node.value.id[:1].isupper()
            )
            if legacy_call or model_query:
                found.append(f"{name}:{node.lineno}")
    assert not found, "use db.session.scalars(sa.select(...)) / count_rows(...): " + ", ".join(
        found
    )


@pytest.mark.parametrize(
    "source",
    [
        "def helper(c):\n    c.post('/account/login', data={})\n",
        "def helper(page, base):\n    page.get_by_label('Password').fill('x')\n",
    ],
)
def test_the_login_rule_sees_a_hand_written_helper(source):
    (function,) = ast.parse(source).body
    assert _submits_login_form(function)
