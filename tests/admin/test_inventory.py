"""Inventory: the ledger, refusals, low-stock alerts, CSV, and races on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict, ValidationFailed
from fixmyphone.extensions import db
from fixmyphone.models import Notification, Part, RequestPart, StockMovement
from fixmyphone.services import inventory, parts_csv
from fixmyphone.workflow import move_status
from tests import factories
from tests.conftest import clean_database, client_for, make_app

from .conftest import post_action, post_form


def kinds(part) -> list[tuple[str, int, int, int]]:
    rows = db.session.scalars(
        sa.select(StockMovement).where(StockMovement.part_id == part.id).order_by(StockMovement.id)
    )
    return [(m.kind, m.quantity, m.on_hand_after, m.reserved_after) for m in rows]


def test_reserve_consume_release_write_the_ledger(app):
    req = factories.ServiceRequestFactory()
    part = factories.PartFactory(on_hand=5, reorder_level=0)
    first = inventory.reserve_part(req, part, 2, None)
    second = inventory.reserve_part(req, part, 1, None)
    inventory.consume_part(first, None)
    inventory.release_part(second, None)
    db.session.commit()
    assert (part.on_hand, part.reserved, part.available) == (3, 0, 3)
    # quantity: the signed change to on hand; for reserve/release, to what is reserved. A part
    # fitted from its reservation is two rows (the reservation ends, the part leaves).
    assert kinds(part) == [
        ("reserve", 2, 5, 2),
        ("reserve", 1, 5, 3),
        ("release", -2, 5, 1),
        ("consume", -2, 3, 1),
        ("release", -1, 3, 0),
    ]


@pytest.mark.parametrize("quantity", [0, -1, True, "2"])
def test_bad_quantities_are_refused(app, quantity):
    req = factories.ServiceRequestFactory()
    part = factories.PartFactory(on_hand=5)
    with pytest.raises(ValidationFailed):
        inventory.reserve_part(req, part, quantity, None)


def test_cannot_reserve_more_than_available(app):
    req = factories.ServiceRequestFactory()
    part = factories.PartFactory(on_hand=3, reserved=0)
    inventory.reserve_part(req, part, 2, None)
    with pytest.raises(Conflict, match="only 1 available"):
        inventory.reserve_part(req, part, 2, None)
    with pytest.raises(Conflict):
        inventory.use_part(req, part, 2, None)
    with pytest.raises(Conflict):
        inventory.adjust(part, -2, None)  # would leave less on hand than reserved
    db.session.expire_all()
    assert (part.on_hand, part.reserved) == (3, 2)


def test_cancel_releases_reserved_parts(app):
    admin = factories.UserFactory(role="admin")
    req = factories.ServiceRequestFactory()
    part = factories.PartFactory(on_hand=2, reorder_level=0)
    line = inventory.reserve_part(req, part, 2, admin)
    move_status(req, "canceled", admin)
    db.session.commit()
    db.session.expire_all()
    assert line.status == "released" and part.reserved == 0 and part.on_hand == 2


def test_low_stock_alerts_each_admin_once_a_day(app):
    admins = [factories.UserFactory(role="admin"), factories.UserFactory(role="superadmin")]
    factories.UserFactory(role="admin", active=False)
    req = factories.ServiceRequestFactory()
    part = factories.PartFactory(on_hand=4, reorder_level=2)
    inventory.reserve_part(req, part, 1, None)  # 3 available: fine
    low = sa.select(sa.func.count(Notification.id)).where(Notification.event == "low_stock")
    assert db.session.scalar(low) == 0
    inventory.reserve_part(req, part, 1, None)  # 2 available: low
    inventory.reserve_part(req, part, 1, None)  # still low: same day, no new alert
    rows = db.session.scalars(
        sa.select(Notification).where(Notification.event == "low_stock")
    ).all()
    assert sorted((r.user_id, r.channel) for r in rows) == sorted(
        (a.id, ch) for a in admins for ch in ("email", "in_app")
    )
    assert [p.id for p in inventory.low_stock_parts()] == [part.id]


def test_csv_export_and_import_roundtrip(app):
    factories.PartFactory(sku="SCR-1", name="Screen", on_hand=4, price=9000)
    text = parts_csv.export_csv()
    assert text.splitlines()[0].startswith("sku,name,compatible_models,cost,price,on_hand")
    assert "SCR-1,Screen" in text
    upload = (
        "sku,name,price,on_hand,reorder_level\n"
        "SCR-1,Screen v2,9500,10,2\n"
        "BAT-1,Battery,3000,6,1\n"
        ",Nameless,1,1,1\n"
        "BAD-1,Bad,-5,1,1\n"
    )
    created, updated, problems = parts_csv.import_csv(upload, None)
    db.session.commit()
    assert (created, updated) == (1, 1)
    assert len(problems) == 2 and problems[0].startswith("line 4")
    screen = db.session.scalar(sa.select(Part).where(Part.sku == "SCR-1"))
    assert (screen.name, screen.price, screen.on_hand) == ("Screen v2", 9500, 10)
    assert kinds(screen) == [("receive", 6, 10, 0)]
    battery = db.session.scalar(sa.select(Part).where(Part.sku == "BAT-1"))
    assert battery.on_hand == 6


def test_csv_import_and_receive_through_the_admin(app):
    import io

    client, _ = client_for(app, "admin")
    token_page = "/admin/parts/import"
    from tests.conftest import csrf_token

    token = csrf_token(client, token_page)
    response = client.post(
        token_page,
        data={
            "csrf_token": token,
            "file": (io.BytesIO(b"sku,name,on_hand\nX-1,Thing,3\n"), "p.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    part = db.session.scalar(sa.select(Part).where(Part.sku == "X-1"))
    assert part.on_hand == 3
    post_action(client, "/admin/parts/", "receive", [part.id], quantity="4", note="delivery")
    post_action(client, "/admin/parts/", "adjust", [part.id], quantity="-10")  # refused
    db.session.expire_all()
    assert part.on_hand == 7
    assert "X-1" in client.get("/admin/parts/export.csv").get_data(as_text=True)


def test_parts_form_cannot_set_stock(app):
    client, _ = client_for(app, "admin")
    part = factories.PartFactory(on_hand=5)
    db.session.commit()
    url = f"/admin/parts/edit/?id={part.id}"
    post_form(
        client,
        url,
        url,
        sku=part.sku,
        name="Renamed",
        cost="1",
        price="2",
        reorder_level="1",
        on_hand="999",
    )
    db.session.expire_all()
    assert part.name == "Renamed" and part.on_hand == 5


# ---------------------------------------------------------------- races (PostgreSQL)


def _race(app, n: int, work) -> list[str]:
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def run(i):
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                work(i)
                db.session.commit()
                outcomes.append("ok")
            except Conflict:
                db.session.rollback()
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


@pytest.mark.postgres
def test_two_staff_taking_the_last_unit_on_postgres(require_postgres, tmp_path):
    app = make_app(require_postgres, tmp_path)
    try:
        with app.app_context():
            reqs = [factories.ServiceRequestFactory() for _ in range(4)]
            part = factories.PartFactory(on_hand=1, reorder_level=0)
            db.session.commit()
            req_ids, part_id = [r.id for r in reqs], part.id
            db.session.remove()

        def use(i):
            from fixmyphone.models import ServiceRequest

            req = db.session.get(ServiceRequest, req_ids[i])
            inventory.use_part(req, db.session.get(Part, part_id), 1, None)

        outcomes = _race(app, 4, use)
        assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
        with app.app_context():
            part = db.session.get(Part, part_id)
            assert (part.on_hand, part.reserved) == (0, 0)
            assert db.session.scalar(sa.select(sa.func.count(StockMovement.id))) == 1

        # Reservations race the same way, and then consuming twice is refused once.
        with app.app_context():
            part = db.session.get(Part, part_id)
            inventory.receive(part, 1, None)
            db.session.commit()
            db.session.remove()

        def reserve(i):
            from fixmyphone.models import ServiceRequest

            req = db.session.get(ServiceRequest, req_ids[i])
            inventory.reserve_part(req, db.session.get(Part, part_id), 1, None)

        assert sorted(_race(app, 4, reserve)) == ["conflict", "conflict", "conflict", "ok"]
        with app.app_context():
            line_id = db.session.scalar(
                sa.select(RequestPart.id).where(RequestPart.status == "reserved")
            )
            db.session.remove()

        def consume(_i):
            inventory.consume_part(db.session.get(RequestPart, line_id), None)

        assert sorted(_race(app, 2, consume)) == ["conflict", "ok"]
        with app.app_context():
            part = db.session.get(Part, part_id)
            assert (part.on_hand, part.reserved) == (0, 0)
    finally:
        clean_database(app)


# ---------------------------------------------------------------- the ledger: one sign convention


def _replay(part) -> tuple[int, int]:
    """On hand and reserved rebuilt from the ledger alone, in time order (0/0 before the first
    row); every row's stock after it must follow from the rows before."""
    on_hand = reserved = 0
    for movement in db.session.scalars(
        sa.select(StockMovement)
        .where(StockMovement.part_id == part.id)
        .order_by(StockMovement.created_at, StockMovement.id)
    ):
        change_on_hand, change_reserved = inventory.movement_changes(movement)
        on_hand += change_on_hand or 0
        reserved += change_reserved or 0
        assert (on_hand, reserved) == (movement.on_hand_after, movement.reserved_after), movement
    return on_hand, reserved


def test_every_change_has_one_sign_and_the_ledger_adds_up(app):
    admin = factories.UserFactory(role="admin")
    req = factories.ServiceRequestFactory()
    part = factories.PartFactory(on_hand=0, reorder_level=0, sellable=True)
    inventory.receive(part, 6, admin, "Delivery 42")
    line = inventory.reserve_part(req, part, 2, admin)
    inventory.consume_part(line, admin)
    inventory.use_part(req, part, 1, admin)
    spare = inventory.reserve_part(req, part, 1, admin)
    inventory.release_part(spare, admin, "Not needed")
    inventory.adjust(part, -1, admin, "Dropped and broken")
    inventory.adjust(part, 2, admin, "Found in a drawer")
    inventory.sell(part, 1, admin, "Counter")
    db.session.commit()
    assert [(k, q) for k, q, *_ in kinds(part)] == [
        ("receive", 6),
        ("reserve", 2),
        ("release", -2),
        ("consume", -2),
        ("consume", -1),
        ("reserve", 1),
        ("release", -1),
        ("adjust", -1),
        ("adjust", 2),
        ("sale", -1),
    ]
    assert _replay(part) == (part.on_hand, part.reserved) == (3, 0)


def test_the_demo_seed_uses_the_same_signs(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    rows = db.session.scalars(sa.select(StockMovement)).all()
    assert {m.kind for m in rows} >= {"receive", "consume"}
    for movement in rows:
        change, _ = inventory.movement_changes(movement)
        if movement.kind in ("receive", "return"):
            assert change > 0, movement
        elif movement.kind in ("consume", "sale"):
            assert change < 0, movement
    for part in db.session.scalars(sa.select(Part)):
        assert _replay(part) == (part.on_hand, part.reserved)


def test_the_ledger_page_shows_names_who_why_and_signs(app):
    client, admin = client_for(app, "admin")
    tech = factories.TechnicianFactory(full_name="Tess Tech")
    req = factories.ServiceRequestFactory()
    part = factories.PartFactory(sku="SCR-IP13", name="Screen for iPhone 13", on_hand=0)
    inventory.receive(part, 5, admin, "Delivery 42")
    line = inventory.reserve_part(req, part, 1, tech)
    inventory.consume_part(line, tech)
    inventory.adjust(part, -1, None, "Stock-take")
    db.session.commit()
    html = client.get("/admin/stock/").get_data(as_text=True)
    for text in (
        "Screen for iPhone 13 (SCR-IP13)",
        "Received",
        "Reserved for a repair",
        "Reservation ended",
        "Used in a repair",
        "Count corrected",
        "On hand ±",
        "Reserved ±",
        "Tess Tech",
        "System",
        "Delivery 42",
        f"Fitted in {req.reference}",
        f'href="/admin/requests/view/{req.id}">{req.reference}</a>',
        "+5",
        "\u22121",
    ):
        assert text in html, text
    # No raw ids or machine values where words belong.
    assert "actor_id" not in html and "service_request_id" not in html
    assert ">consume<" not in html and ">reserve<" not in html
    # Filter by movement, search by part name or repair reference.
    filtered = client.get("/admin/stock/?flt0_movement_equals=consume").get_data(as_text=True)
    assert "Used in a repair" in filtered and "Delivery 42" not in filtered
    assert "Delivery 42" in client.get("/admin/stock/?search=iphone").get_data(as_text=True)
    found = client.get(f"/admin/stock/?search={req.reference}").get_data(as_text=True)
    assert f"Fitted in {req.reference}" in found and "Delivery 42" not in found


def test_the_ledger_export_has_plain_signed_numbers(app):
    client, admin = client_for(app, "admin")
    req = factories.ServiceRequestFactory()
    part = factories.PartFactory(sku="BAT-1", name="Battery", on_hand=3)
    line = inventory.reserve_part(req, part, 1, admin)
    inventory.consume_part(line, admin)
    db.session.commit()
    text = client.get("/admin/stock/export/csv/").get_data(as_text=True)
    header, *rows = [line.split(",") for line in text.strip().splitlines()]
    assert header[3:7] == ["Movement", "Movement Code", "On hand ±", "Reserved ±"], header
    by_kind = {row[4]: row for row in rows}
    assert by_kind["consume"][3] == "Used in a repair"
    assert by_kind["consume"][5:7] == ["-1", ""]
    assert by_kind["release"][5:7] == ["", "-1"]
    assert by_kind["reserve"][5:7] == ["", "1"]
    assert by_kind["consume"][9] == req.reference
