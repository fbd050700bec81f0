"""The job ticket: a one-page PDF stuck to the device, with a QR code of the tracking link."""

from __future__ import annotations

import os

import qrcode
from flask import current_app
from fpdf import FPDF

from ..models import ServiceRequest
from .notifications import tracking_url

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DEJAVU_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _fonts(pdf: FPDF) -> str:
    if os.path.exists(DEJAVU) and os.path.exists(DEJAVU_BOLD):
        pdf.add_font("DejaVu", "", DEJAVU)
        pdf.add_font("DejaVu", "B", DEJAVU_BOLD)
        return "DejaVu"
    return "helvetica"


def _text(value: str, family: str) -> str:
    # The built-in font only knows Latin-1; DejaVu covers the rest.
    if family == "helvetica":
        return value.encode("latin-1", "replace").decode("latin-1")
    return value


def job_ticket_pdf(request: ServiceRequest) -> bytes:
    """The job ticket of a repair as PDF bytes."""
    return job_tickets_pdf([request])


def job_tickets_pdf(requests: list[ServiceRequest]) -> bytes:
    """One PDF with a job ticket page per repair."""
    pdf = FPDF(format=(148, 210))
    pdf.set_auto_page_break(auto=True, margin=12)
    family = _fonts(pdf)
    for request in requests:
        _ticket_page(pdf, family, request)
    return bytes(pdf.output())


def _ticket_page(pdf: FPDF, family: str, request: ServiceRequest) -> None:
    cfg = current_app.config
    pdf.add_page()
    pdf.set_font(family, "B", 16)
    pdf.cell(0, 9, _text(cfg["SHOP_NAME"], family), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 9)
    pdf.cell(0, 5, _text(f"{cfg['SHOP_ADDRESS']} · {cfg['SHOP_PHONE']}", family))
    pdf.ln(9)
    pdf.set_font(family, "B", 22)
    pdf.cell(0, 11, request.reference, new_x="LMARGIN", new_y="NEXT")

    link = tracking_url(request)
    image = qrcode.make(link, box_size=6, border=2).get_image()
    pdf.image(image, x=pdf.w - pdf.r_margin - 38, y=pdf.t_margin, w=38, h=38)

    customer = request.customer
    phone = customer.customer_profile.phone if customer.customer_profile else None
    rows = [
        ("Device", f"{request.brand} {request.model} ({request.device_type})"),
        ("IMEI", request.imei or "—"),
        ("Issue", request.issue_description),
        ("Customer", customer.full_name),
        ("Email", customer.email),
        ("Phone", phone or "—"),
        ("Location", request.location or "—"),
        ("Passcode given", "yes" if request.passcode_encrypted else "no"),
    ]
    if request.warranty_of is not None:
        rows.append(("Warranty rework of", request.warranty_of.reference))
    pdf.ln(14)
    for label, value in rows:
        pdf.set_font(family, "B", 10)
        pdf.cell(36, 6, _text(label, family))
        pdf.set_font(family, "", 10)
        pdf.multi_cell(0, 6, _text(value, family), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "", 8)
    pdf.multi_cell(0, 4, _text(f"Track this repair: {link}", family))
