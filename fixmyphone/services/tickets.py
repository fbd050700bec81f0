"""The job ticket: a one-page PDF stuck to the device, with a QR code of the tracking link."""

from __future__ import annotations

from flask import current_app

from ..links import tracking_url
from ..models import ServiceRequest


def job_ticket_pdf(request: ServiceRequest) -> bytes:
    """The job ticket of a repair as PDF bytes."""
    return job_tickets_pdf([request])


def job_tickets_pdf(requests: list[ServiceRequest]) -> bytes:
    """One PDF with a job ticket page per repair."""
    from .pdf import new_page_set  # loaded on first use: fpdf2 (PDFs only)

    pdf = new_page_set(format=(148, 210))
    pdf.set_auto_page_break(auto=True, margin=12)
    for request in requests:
        _ticket_page(pdf, request)
    return bytes(pdf.output())


def _ticket_page(pdf, request: ServiceRequest) -> None:
    import qrcode  # loaded on first use: qrcode with PIL, only when a ticket is printed

    from .pdf import FONT as font  # loaded on first use: fpdf2 (PDFs only)
    from .pdf import write_facts  # loaded on first use: fpdf2 (PDFs only)

    cfg = current_app.config
    pdf.add_page()
    pdf.set_font(font, "B", 16)
    pdf.cell(0, 9, cfg["SHOP_NAME"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, "", 9)
    pdf.cell(0, 5, f"{cfg['SHOP_ADDRESS']} · {cfg['SHOP_PHONE']}")
    pdf.ln(9)
    pdf.set_font(font, "B", 22)
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
    write_facts(pdf, rows, label_width=36)
    pdf.ln(4)
    pdf.set_font(font, "", 8)
    pdf.multi_cell(0, 4, f"Track this repair: {link}")
