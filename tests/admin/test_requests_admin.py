"""Service request actions in the back office: bulk actions, the request page, refusals."""

from __future__ import annotations

import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Message, Notification, RequestPart, ServiceRequest
from fixmyphone.services import passcodes
from fixmyphone.services.billing import charges
from tests import factories
from tests.conftest import client_for

from .conftest import post_action, post_form

LIST = "/admin/requests/"


def _flashes(client) -> str:
    return client.get(LIST).get_data(as_text=True)


def test_action_without_csrf_token_is_refused(app, repair):
    client, _ = client_for(app, "admin")
    response = client.post(LIST + "action/", data={"action": "move_status", "rowid": [repair.id]})
    assert response.status_code == 400


def test_assign_asks_for_technician_then_assigns_in_bulk(app, tech):
    client, admin = client_for(app, "admin")
    first, second = factories.ServiceRequestFactory(), factories.ServiceRequestFactory()
    db.session.commit()
    form = post_action(client, LIST, "assign", [first.id, second.id])
    assert form.status_code == 200
    assert 'name="technician_id"' in form.get_data(as_text=True)
    response = post_action(client, LIST, "assign", [first.id, second.id], technician_id=tech.id)
    assert response.status_code == 302
    db.session.expire_all()
    assert first.technician_id == tech.id and second.technician_id == tech.id
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(AuditLog.action == "technician_assigned")
        )
        == 2
    )
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(AuditLog.action == "admin_action:assign")
        )
        == 1
    )


def test_assign_refuses_an_inactive_technician(app, repair):
    client, _ = client_for(app, "admin")
    gone = factories.TechnicianFactory(active=False)
    db.session.commit()
    post_action(client, LIST, "assign", [repair.id], technician_id=gone.id)
    db.session.expire_all()
    assert repair.technician_id != gone.id
    assert "not an active technician" in _flashes(client)


def test_technician_may_not_assign(app, repair, tech):
    client, _ = client_for(app, tech)
    other = factories.TechnicianFactory()
    db.session.commit()
    post_action(client, LIST, "assign", [repair.id], technician_id=other.id)
    db.session.expire_all()
    assert repair.technician_id == tech.id


def test_move_status_applies_legal_moves_and_refuses_illegal_ones(app):
    client, _ = client_for(app, "admin")
    legal = factories.ServiceRequestFactory(status="pending")
    illegal = factories.ServiceRequestFactory(status="completed")
    db.session.commit()
    response = post_action(
        client, LIST, "move_status", [legal.id, illegal.id], status="in_progress"
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert legal.status == "in_progress"
    assert legal.checked_in_at is not None
    assert illegal.status == "completed"
    page = _flashes(client)
    assert f"Cannot move {illegal.reference} from completed to in_progress" in page
    assert "allowed next statuses: closed" in page


def test_technician_moves_only_own_requests(app, repair, tech):
    client, _ = client_for(app, tech)
    foreign = factories.ServiceRequestFactory()
    db.session.commit()
    # A repair outside the technician's scope among the selected ones: 404, nothing moves.
    response = post_action(
        client, LIST, "move_status", [repair.id, foreign.id], status="in_progress"
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert repair.status == foreign.status == "pending"
    post_action(client, LIST, "move_status", [repair.id], status="in_progress")
    db.session.expire_all()
    assert repair.status == "in_progress"
    assert foreign.status == "pending"


def test_send_quote_puts_repair_on_hold_and_refuses_bad_amount(app, repair):
    client, _ = client_for(app, "admin")
    post_action(client, LIST, "send_quote", [repair.id], amount="0", details="Screen")
    db.session.expire_all()
    assert repair.quote_status == "none"
    post_action(client, LIST, "send_quote", [repair.id], amount="89.50", details="New screen")
    db.session.expire_all()
    assert repair.status == "on_hold"
    assert repair.quote_amount == 8950 and repair.quote_status == "pending"


def test_notes_internal_and_public(app, repair):
    client, _ = client_for(app, "admin")
    post_action(
        client, LIST, "note", [repair.id], body="Check the flex cable", visibility="internal"
    )
    post_action(client, LIST, "note", [repair.id], body="We found the fault", visibility="public")
    notes = db.session.scalars(sa.select(Message).order_by(Message.id)).all()
    assert [(m.body, m.is_internal) for m in notes] == [
        ("Check the flex cable", True),
        ("We found the fault", False),
    ]
    sent = db.session.scalars(
        sa.select(Notification.event).where(Notification.user_id == repair.customer_id)
    ).all()
    assert "message_received" in sent


def test_print_job_ticket_is_a_pdf(app, repair):
    client, _ = client_for(app, "admin")
    response = post_action(client, LIST, "print_ticket", [repair.id])
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert repair.reference in response.headers["Content-Disposition"]


def test_list_filters_and_search(app):
    client, _ = client_for(app, "admin")
    apple = factories.ServiceRequestFactory(brand="Apple", imei="490154203237518")
    samsung = factories.ServiceRequestFactory(brand="Samsung", status="in_progress")
    db.session.commit()
    by_status = client.get(LIST + "?flt0_status_equals=in_progress").get_data(as_text=True)
    assert samsung.reference in by_status and apple.reference not in by_status
    by_brand = client.get(LIST + "?flt0_brand_contains=sams").get_data(as_text=True)
    assert samsung.reference in by_brand and apple.reference not in by_brand
    by_imei = client.get(LIST + "?search=490154203237518").get_data(as_text=True)
    assert apple.reference in by_imei and samsung.reference not in by_imei
    by_email = client.get(LIST + f"?search={samsung.customer.email}").get_data(as_text=True)
    assert samsung.reference in by_email and apple.reference not in by_email


def test_overdue_filter(app):
    from datetime import timedelta

    from fixmyphone.models import utcnow

    client, _ = client_for(app, "admin")
    late = factories.ServiceRequestFactory(
        status="in_progress", estimated_completion=utcnow() - timedelta(days=1)
    )
    done = factories.ServiceRequestFactory(
        status="completed", estimated_completion=utcnow() - timedelta(days=1)
    )
    db.session.commit()
    html = client.get(LIST + "?flt0_overdue_is=yes").get_data(as_text=True)
    assert late.reference in html and done.reference not in html


# ---------------------------------------------------------------- the request page


def page(repair) -> str:
    return f"/admin/requests/view/{repair.id}"


def test_reply_and_internal_note_from_request_page(app, repair):
    client, _ = client_for(app, "admin")
    url = page(repair)
    post_form(client, url, url + "/message", body="Ready tomorrow", visibility="public")
    post_form(client, url, url + "/message", body="Tech note", visibility="internal")
    html = client.get(url).get_data(as_text=True)
    assert "Ready tomorrow" in html and "Tech note" in html
    internal = db.session.scalar(sa.select(Message).where(Message.body == "Tech note"))
    assert internal.is_internal


def test_intake_checklist_location_and_encrypted_passcode(app, repair):
    client, _ = client_for(app, "admin")
    url = page(repair)
    response = post_form(
        client,
        url,
        url + "/intake",
        power="ok",
        screen="faulty",
        cameras="ok",
        buttons="untested",
        water_damage="y",
        passcode="1234",
        location="Shelf B2",
    )
    assert response.status_code == 302
    db.session.expire_all()
    checklist = repair.intake_checklist
    assert checklist["screen"] == "faulty" and checklist["water_damage"] is True
    assert checklist["passcode_given"] is True
    assert repair.location == "Shelf B2"
    assert repair.passcode_encrypted and "1234" not in repair.passcode_encrypted
    assert passcodes.decrypt(repair.passcode_encrypted) == "1234"
    post_form(client, url, url + "/location", location="Bench 1")
    db.session.expire_all()
    assert repair.location == "Bench 1"
    moves = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "location_changed").order_by(AuditLog.id)
    ).all()
    assert [m.after["location"] for m in moves] == ["Shelf B2", "Bench 1"]
    revealed = post_form(client, url, url + "/passcode/reveal")
    assert "1234" in revealed.get_data(as_text=True)


def test_intake_refuses_missing_checks(app, repair):
    client, _ = client_for(app, "admin")
    url = page(repair)
    post_form(client, url, url + "/intake", power="ok")
    db.session.expire_all()
    assert repair.intake_checklist is None


def test_passcode_erased_when_repair_is_canceled(app, repair):
    client, _ = client_for(app, "admin")
    url = page(repair)
    post_form(client, url, url + "/passcode", passcode="0000")
    db.session.expire_all()
    assert repair.passcode_encrypted
    post_form(client, url, url + "/status", status="canceled")
    db.session.expire_all()
    assert repair.status == "canceled" and repair.passcode_encrypted is None


def test_reserve_consume_and_release_parts_from_request_page(app, repair):
    client, _ = client_for(app, "admin")
    screen = factories.PartFactory(on_hand=3, reorder_level=0)
    battery = factories.PartFactory(on_hand=1, reorder_level=0)
    db.session.commit()
    url = page(repair)
    post_form(client, url, url + "/parts", part_id=screen.id, quantity="2")
    post_form(client, url, url + "/parts", part_id=battery.id, quantity="5")  # refused
    lines = db.session.scalars(sa.select(RequestPart).order_by(RequestPart.id)).all()
    assert [(line.part_id, line.quantity) for line in lines] == [(screen.id, 2)]
    db.session.expire_all()
    assert (screen.on_hand, screen.reserved, battery.reserved) == (3, 2, 0)
    post_form(client, url, url + f"/parts/{lines[0].id}/consume")
    db.session.expire_all()
    assert (screen.on_hand, screen.reserved, lines[0].status) == (1, 0, "consumed")
    # a consumed line cannot be released or consumed again
    post_form(client, url, url + f"/parts/{lines[0].id}/release")
    db.session.expire_all()
    assert (screen.on_hand, screen.reserved, lines[0].status) == (1, 0, "consumed")


def test_warranty_claim_opens_free_rework_linked_to_original(app, repair):
    from fixmyphone.workflow import move_status

    client, admin = client_for(app, "admin")
    # Nothing was charged: completing it needs an admin's no-charge decision.
    charges.mark_no_charge(repair, reason="Goodwill: loyal customer", actor=admin)
    for status in ("in_progress", "quality_check", "ready_for_pickup", "completed"):
        move_status(repair, status, admin)
    db.session.commit()
    assert repair.warranty_until is not None
    days = (repair.warranty_until - repair.completed_at).days
    assert days == app.config["WARRANTY_DAYS"]
    url = page(repair)
    response = post_form(client, url, url + "/warranty", issue_description="Screen flickers")
    assert response.status_code == 302
    claim = db.session.scalar(
        sa.select(ServiceRequest).where(ServiceRequest.warranty_of_id == repair.id)
    )
    assert claim is not None and claim.no_charge
    assert claim.customer_id == repair.customer_id
    part = factories.PartFactory(on_hand=2, price=5000)
    db.session.commit()
    claim_url = page(claim)
    post_form(client, claim_url, claim_url + "/parts", part_id=part.id, quantity="1")
    line = db.session.scalar(
        sa.select(RequestPart).where(RequestPart.service_request_id == claim.id)
    )
    assert line.unit_price == 0


def test_warranty_claim_refused_for_unfinished_repair(app, repair):
    client, _ = client_for(app, "admin")
    url = page(repair)
    post_form(client, url, url + "/warranty", issue_description="Again")
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(ServiceRequest.warranty_of_id == repair.id)
        )
        == 0
    )


def _device_form(**changes) -> dict:
    fields = {
        "device_type": "phone",
        "brand": "Apple",
        "model": "iPhone 13",
        "imei": "",
        "issue_description": "Cracked screen",
    }
    fields.update(changes)
    return fields


def test_staff_correct_the_device_details_and_the_search_follows(app, repair):
    client, _ = client_for(app, "admin")
    url = page(repair)
    assert "Correct the device details" in client.get(url).get_data(as_text=True)
    response = post_form(
        client, url, url + "/device", **_device_form(model="iPhone 13 Pro", imei="49015420323751 8")
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (repair.model, repair.imei) == ("iPhone 13 Pro", "490154203237518")
    change = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "device_details_changed")
    ).one()
    assert change.before == {"model": "iPhone 13", "imei": None}
    assert change.after == {"model": "iPhone 13 Pro", "imei": "490154203237518"}
    listing = client.get(LIST + "?search=13+pro").get_data(as_text=True)
    assert repair.reference in listing


def test_a_wrong_device_detail_is_named_and_nothing_is_saved(app, repair):
    client, _ = client_for(app, "admin")
    url = page(repair)
    post_form(client, url, url + "/device", **_device_form(model="X", imei="123456789012345"))
    db.session.expire_all()
    assert (repair.model, repair.imei) == ("iPhone 13", None)
    flashed = client.get(url).get_data(as_text=True)
    assert "Imei: An IMEI is 15 digits with a valid check digit" in flashed


def test_only_the_assigned_technician_corrects_the_device(app, repair, tech):
    other, _ = client_for(app, "technician")
    url = page(repair)
    assert "Correct the device details" not in other.get(url).get_data(as_text=True)
    post_form(other, url, url + "/device", **_device_form(brand="Samsung"))
    db.session.expire_all()
    assert repair.brand == "Apple"
    mine, _ = client_for(app, tech)
    post_form(mine, url, url + "/device", **_device_form(brand="Samsung"))
    db.session.expire_all()
    assert repair.brand == "Samsung"
