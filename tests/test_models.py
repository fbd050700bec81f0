"""Model hygiene: every foreign key is indexed; emails are unique case-insensitively; every
stored vocabulary is kept to its values by the database."""

import re
from enum import StrEnum

import pytest
import sqlalchemy as sa

from fixmyphone import models
from fixmyphone.extensions import db
from fixmyphone.models import User

from .factories import ServiceRequestFactory


def _indexed_columns(table: sa.Table) -> set[str]:
    firsts = {list(index.columns)[0].name for index in table.indexes}
    firsts |= {
        list(c.columns)[0].name for c in table.constraints if isinstance(c, sa.UniqueConstraint)
    }
    firsts |= {c.name for c in table.primary_key.columns}
    return firsts


def test_every_foreign_key_is_indexed():
    missing = []
    for table in db.metadata.sorted_tables:
        indexed = _indexed_columns(table)
        for fk in table.foreign_keys:
            if fk.parent.name not in indexed:
                missing.append(f"{table.name}.{fk.parent.name}")
    assert missing == []


def test_emails_are_unique_whatever_their_case(app):
    db.session.add(User(email="Sam@Example.com", full_name="Sam", role="customer"))
    db.session.commit()
    assert db.session.scalar(sa.select(User.email)) == "sam@example.com"
    db.session.add(User(email="SAM@example.COM ", full_name="Sam again", role="customer"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_roles_are_constrained(app):
    db.session.add(User(email="x@example.com", full_name="X", role="wizard"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_repair_statuses_are_constrained(app):
    request = ServiceRequestFactory()
    db.session.commit()
    request.status = "fixed"
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_every_vocabulary_is_kept_by_a_check_constraint():
    vocabularies = [
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, StrEnum) and value is not StrEnum
    ]
    checked = {
        tuple(sorted(re.findall(r"'([^']*)'", str(check.sqltext))))
        for table in db.metadata.sorted_tables
        for check in table.constraints
        if isinstance(check, sa.CheckConstraint)
    }
    unchecked = [v.__name__ for v in vocabularies if tuple(sorted(v)) not in checked]
    assert len(vocabularies) >= 16
    assert unchecked == []
