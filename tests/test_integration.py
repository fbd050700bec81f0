"""Pieces that meet across packages: the back office shows the notifications bell."""

from fixmyphone.services import notifications


def test_back_office_pages_show_the_bell_with_the_unread_count(app, admin_client, admin_user):
    notifications.alert_staff("low_stock", "Low stock: screens", "Two left.", dedup_key="bell-test")
    response = admin_client.get("/admin/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="/notifications/"' in html or 'href="/notifications"' in html
    assert "1 unread" in html


def test_only_the_assigned_technician_or_an_admin_moves_a_repair(app):
    import pytest

    from fixmyphone.domain_errors import Forbidden
    from fixmyphone.services import repairs

    from .factories import ServiceRequestFactory, TechnicianFactory, UserFactory

    assigned, other = TechnicianFactory(), TechnicianFactory()
    request = ServiceRequestFactory(technician=assigned)
    with pytest.raises(Forbidden, match="assigned technician or an admin"):
        repairs.move_by(other, request, "in_progress")
    assert request.status == "pending"
    repairs.move_by(assigned, request, "in_progress", "on the bench")
    repairs.move_by(UserFactory(role="admin"), request, "quality_check")
    assert [e.to_status for e in request.history] == ["pending", "in_progress", "quality_check"]
