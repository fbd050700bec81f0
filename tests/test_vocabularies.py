"""Stored vocabularies are named once: the code says ``RepairStatus.IN_PROGRESS``, never
``"in_progress"``.

The rule is deliberately narrow, so it never fails on an innocent string: a string equal to a
value of one of the models' vocabularies counts only where the code uses it *as* that value —
compared with something, passed or assigned to a field of that name (``status=``, ``.kind =``),
bound to a name, returned, listed with another value of its vocabulary, or (repair statuses
only) given to a call. Values that are also everyday words or field names (``"email"``,
``"phone"``, ``"customer"``, ``"part"``, ``"none"``...) count only where a field says what
they are (``row.channel == "email"``, ``kind="part"``). models.py defines the values and
labels.py words them; migrations are history.
"""

from __future__ import annotations

import ast
from pathlib import Path

from fixmyphone import models

PACKAGE = Path(models.__file__).parent
SKIPPED = {PACKAGE / "models.py", PACKAGE / "labels.py"}

# Values that double as plain words, field or endpoint names elsewhere.
COMMON_WORDS = {
    "admin",
    "balance",
    "credit",
    "customer",
    "discount",
    "draft",
    "email",
    "fee",
    "invoice",
    "labour",
    "none",
    "other",
    "part",
    "phone",
    "read",
    "received",
    "reserved",
    "return",
    "sale",
    "sent",
}
VOCABULARIES = (
    models.RepairStatus,
    models.Role,
    models.DeviceType,
    models.QuoteStatus,
    models.AppointmentStatus,
    models.MovementKind,
    models.RequestPartStatus,
    models.InvoiceKind,
    models.InvoiceStatus,
    models.InvoiceLineKind,
    models.PaymentMethod,
    models.PaymentPurpose,
    models.PaymentStatus,
    models.RefundStatus,
    models.StripeEventStatus,
    models.NotificationChannel,
    models.NotificationStatus,
)
REPAIR_STATUSES = set(models.RepairStatus)
ALL_VALUES = {str(member) for vocabulary in VOCABULARIES for member in vocabulary}
VALUES = ALL_VALUES - COMMON_WORDS
# Fields that hold a vocabulary, as keyword arguments and assigned attributes.
FIELDS = {
    "channel",
    "device_type",
    "from_status",
    "kind",
    "method",
    "purpose",
    "quote_status",
    "role",
    "status",
    "target",
    "to_status",
}
# Lookups by key (request arguments, dictionaries): the key is not the stored value.
LOOKUPS = {"get", "getlist", "pop", "setdefault"}


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _vocabulary_list(values: list[ast.expr | None]) -> bool:
    """Whether a literal tuple, list, set or dict's keys hold two values of one vocabulary."""
    found = {v.value for v in values if isinstance(v, ast.Constant) and v.value in VALUES}
    return any(len(found & set(vocabulary)) >= 2 for vocabulary in VOCABULARIES)


def _in_a_field(child: ast.AST, parent: ast.AST) -> bool:
    """Whether ``child`` is given to a vocabulary field: ``status="x"``, ``row.kind = "x"``,
    ``row.channel == "x"``."""
    if isinstance(parent, ast.keyword):
        return parent.arg in FIELDS
    if isinstance(parent, ast.Assign) and child is parent.value:
        return any(isinstance(t, ast.Attribute) and t.attr in FIELDS for t in parent.targets)
    if isinstance(parent, ast.Compare):
        sides = (parent.left, *parent.comparators)
        return any(isinstance(side, ast.Attribute) and side.attr in FIELDS for side in sides)
    return False


def _used_as_value(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` (a vocabulary value) is used as that value (see the module's rule)."""
    child, parent = node, parents.get(node)
    # "a" if x else "b", x or "a": judged by where the whole expression goes.
    while isinstance(parent, (ast.IfExp, ast.BoolOp)) and child is not getattr(parent, "test", 0):
        child, parent = parent, parents.get(parent)
    if _in_a_field(child, parent):
        return True
    if node.value not in VALUES:  # an everyday word: only where a field says what it is
        return False
    if isinstance(parent, ast.Dict):
        if child in parent.values:  # {"status": "x"}
            key = parent.keys[parent.values.index(child)]
            return isinstance(key, ast.Constant) and key.value in FIELDS
        return _vocabulary_list(parent.keys)
    if isinstance(parent, (ast.Tuple, ast.List, ast.Set)):
        # One value in a list of other things counts only when compared: x in ("a", "b").
        return _vocabulary_list(parent.elts) or isinstance(parents.get(parent), ast.Compare)
    if isinstance(parent, (ast.Compare, ast.Return)):
        return True
    if isinstance(parent, (ast.Assign, ast.AnnAssign)) and child is parent.value:
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        return any(isinstance(t, ast.Name) for t in targets)
    if isinstance(parent, ast.Call) and child in parent.args:
        # Only repair statuses: other values double as names of admin actions and forms.
        return node.value in REPAIR_STATUSES and _name(parent.func) not in LOOKUPS
    return False


def literal_vocabulary(path: Path) -> list[str]:
    """'file:line: 'value'' for every vocabulary value written as a string in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    parents = _parents(tree)
    hits = sorted(
        (node.lineno, node.col_offset, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in ALL_VALUES
        and _used_as_value(node, parents)
    )
    return [f"{path}:{line}: {value!r}" for line, _, value in hits]


def test_vocabulary_values_are_written_as_enum_members():
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in SKIPPED
        for hit in literal_vocabulary(path)
    ]
    assert found == [], "use the models' enums (RepairStatus.X, ...):\n" + "\n".join(found)


def test_the_rule_sees_a_status_written_as_a_string(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        'if request.status == "in_progress":\n'
        '    move_status(request, "quality_check", actor)\n'
        'Payment(status="needs_review" if late else "succeeded")\n'
        'ok = row.channel == "email" and field == "email"\n'
        'values = {"status": "failed", "kind": "invoice"}\n'
        'row.status = "sent"\n'
        'DONE = ("completed", "closed")\n'
        'args.get("canceled")\n'
        'row = {"completed": 3, "technician": "Sam"}\n'
    )
    hits = [hit.split(": ")[1] for hit in literal_vocabulary(sample)]
    assert hits == [
        "'in_progress'",
        "'quality_check'",
        "'needs_review'",
        "'succeeded'",
        "'email'",
        "'failed'",
        "'sent'",
        "'completed'",
        "'closed'",
    ]
