"""The rules behind the customer pages: image sniffing, reference and contact matching."""

from __future__ import annotations

import pytest

from fixmyphone.services import photos, tracking

from .. import factories


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"<svg xmlns=", None),
        (b"%PDF-1.7", None),
        (b"MZ\x90\x00", None),
        (b"", None),
    ],
)
def test_image_type_comes_from_the_first_bytes(head, expected):
    assert photos.sniff_image_type(head) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("FMP-24A7K9", "FMP-24A7K9"),
        ("fmp-24a7k9", "FMP-24A7K9"),
        (" fmp 24a7k9 ", "FMP-24A7K9"),
        ("24A7K9", "FMP-24A7K9"),
        ("FMP24A7K9", "FMP-24A7K9"),
        ("", ""),
        ("---", ""),
    ],
)
def test_references_are_normalised(typed, expected):
    assert tracking.normalise_reference(typed) == expected


@pytest.mark.parametrize(
    ("contact", "matches"),
    [
        ("pat@example.com", True),
        (" PAT@Example.COM ", True),
        ("pat@example.org", False),
        ("+1 (555) 010-9999", True),
        ("555 010 9999", True),  # local form of the same number
        ("0109999", True),
        ("109999", False),  # fewer than 7 digits never counts
        ("+1 555 010 9998", False),
        ("", False),
    ],
)
def test_contact_matches_email_or_phone(app, contact, matches):
    customer = factories.CustomerFactory(email="pat@example.com")
    customer.customer_profile.phone = "+1 555 010 9999"
    r = factories.ServiceRequestFactory(customer=customer)
    assert tracking.contact_matches(r, contact) is matches
    found = tracking.find_by_reference(r.reference, contact)
    assert (found is r) is matches


def test_customer_without_phone_cannot_be_found_by_phone(app):
    customer = factories.CustomerFactory()
    customer.customer_profile.phone = None
    r = factories.ServiceRequestFactory(customer=customer)
    assert tracking.find_by_reference(r.reference, "5550199") is None
