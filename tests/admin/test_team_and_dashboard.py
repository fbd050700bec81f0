"""Shifts, time off, the workload board, the inbox, and the dashboard's query budget."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Shift, TimeOff, utcnow
from fixmyphone.services import messages
from tests import factories
from tests.conftest import client_for

from .conftest import post_form


def test_shift_and_time_off_forms(app, tech):
    client, _ = client_for(app, "admin")
    db.session.commit()
    url = "/admin/shifts/new/"
    response = post_form(
        client, url, url, technician=str(tech.id), weekday="0", starts_at="09:00", ends_at="17:00"
    )
    assert response.status_code == 302
    shift = db.session.scalar(sa.select(Shift))
    assert (shift.technician_id, shift.weekday, shift.starts_at) == (tech.id, 0, time(9))
    url = "/admin/timeoff/new/"
    response = post_form(
        client,
        url,
        url,
        technician=str(tech.id),
        starts="2026-12-24 09:00:00",
        ends="2026-12-27 18:00:00",
        reason="Holidays",
    )
    assert response.status_code == 302
    leave = db.session.scalar(sa.select(TimeOff))
    assert leave.starts == datetime(2026, 12, 24, 9, tzinfo=UTC)  # shop zone is UTC in tests
    assert leave.reason == "Holidays"


def test_time_off_uses_the_browsers_date_and_time_picker(app, tech):
    client, _ = client_for(app, "admin")
    url = "/admin/timeoff/new/"
    form = client.get(url).get_data(as_text=True)
    assert form.count('type="datetime-local"') == 2
    post_form(
        client,
        url,
        url,
        technician=str(tech.id),
        starts="2026-12-24T09:00",
        ends="2026-12-24T13:30",
    )
    leave = db.session.scalar(sa.select(TimeOff))
    assert (leave.starts.hour, leave.ends.hour, leave.ends.minute) == (9, 13, 30)
    edit = client.get(f"/admin/timeoff/edit/?id={leave.id}").get_data(as_text=True)
    assert 'value="2026-12-24T09:00"' in edit  # what the picker can show


def test_workload_board_counts_open_repairs_per_technician(app, tech):
    client, _ = client_for(app, "admin")
    factories.ServiceRequestFactory(technician=tech, status="in_progress")
    factories.ServiceRequestFactory(technician=tech, status="in_progress")
    factories.ServiceRequestFactory(technician=tech, status="completed")
    factories.ServiceRequestFactory(
        technician=tech,
        status="ready_for_pickup",
        checked_in_at=utcnow() - timedelta(hours=10),
        ready_at=utcnow(),
    )
    db.session.commit()
    html = client.get("/admin/workload/").get_data(as_text=True)
    row = html[html.index(tech.full_name) :].split("</tr>")[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    assert ">2</a>" in row  # two in progress, linked to the filtered list
    assert cells[-2] == "3"  # open repairs
    assert cells[-1] == "10.0"  # average turnaround in hours


def test_inbox_lists_unread_threads_first(app):
    client, _ = client_for(app, "admin")
    old_unread = factories.ServiceRequestFactory()
    read = factories.ServiceRequestFactory()
    messages.post_message(old_unread, old_unread.customer, "Any news?")
    messages.post_message(read, read.customer, "Thanks!")
    messages.mark_read(read, factories.UserFactory(role="admin"))
    db.session.commit()
    html = client.get("/admin/inbox/").get_data(as_text=True)
    assert html.index(old_unread.reference) < html.index(read.reference)
    # opening the request page marks it read; the dashboard count follows
    assert messages.unread_for_staff() == 1
    client.get(f"/admin/requests/view/{old_unread.id}")
    assert messages.unread_for_staff() == 0


def _queries_for(client, url: str) -> int:
    count = 0

    def count_query(*_args, **_kwargs):
        nonlocal count
        count += 1

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count_query)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_query)
    return count


def _shop_day(n: int, tech):
    now = utcnow()
    for i in range(n):
        factories.ServiceRequestFactory(
            technician=tech,
            status="in_progress",
            estimated_completion=now - timedelta(days=1 + i),
        )
        factories.PartFactory(on_hand=0, reorder_level=1)
    db.session.commit()


def test_dashboard_runs_a_bounded_number_of_queries(app, tech):
    client, _ = client_for(app, "admin")
    _shop_day(2, tech)
    small = _queries_for(client, "/admin/")
    _shop_day(8, tech)
    large = _queries_for(client, "/admin/")
    assert large == small
    html = client.get("/admin/").get_data(as_text=True)
    assert 'id="dash-overdue">10<' in html
