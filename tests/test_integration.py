"""Pieces that meet across packages: the back office shows the notifications bell."""

from fixmyphone.services import notifications


def test_back_office_pages_show_the_bell_with_the_unread_count(app, admin_client, admin_user):
    notifications.alert_staff("low_stock", "Low stock: screens", "Two left.", dedup_key="bell-test")
    response = admin_client.get("/admin/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="/notifications/"' in html or 'href="/notifications"' in html
    assert "1 unread" in html
