"""The words of notifications live in templates (email/messages/<event>.txt); services pass
values."""

import ast
from pathlib import Path

import fixmyphone

PACKAGE = Path(fixmyphone.__file__).parent
MESSAGES = PACKAGE.parent / "templates" / "email" / "messages"
# Positional arguments before the words: notify(user, event, ...), alert_staff(event, ...).
BEFORE_THE_WORDS = {"notify": 2, "alert_staff": 1}


def test_each_message_template_has_a_subject_and_a_body(app):
    names = sorted(path.name for path in MESSAGES.glob("*.txt"))
    assert "status_changed.txt" in names
    for name in names:
        template = app.jinja_env.get_template(f"email/messages/{name}")
        assert {"subject", "body"} <= set(template.blocks), name


def test_no_service_writes_the_words_itself():
    written = []
    forwards = PACKAGE / "services" / "notifications.py"  # alert_staff passes its arguments on
    for path in set(PACKAGE.rglob("*.py")) - {forwards}:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            words = {"subject", "body"} & {k.arg for k in node.keywords}
            if name in BEFORE_THE_WORDS and (len(node.args) > BEFORE_THE_WORDS[name] or words):
                written.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert written == []
