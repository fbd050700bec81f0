"""Count the SQL statements a block of code sends (to keep pages' query counts bounded)."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from fixmyphone.extensions import db


class QueryLog(list):
    """The statements seen, in order."""

    @property
    def count(self) -> int:
        return len(self)


@contextmanager
def count_queries():
    """Collect every statement sent on the app's engine while the block runs."""
    log = QueryLog()

    def remember(conn, cursor, statement, parameters, context, executemany):
        if (
            not statement.lstrip()
            .upper()
            .startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "PRAGMA"))
        ):
            log.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", remember)
