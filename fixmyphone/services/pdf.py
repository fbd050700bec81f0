"""The shop's PDF pages (fpdf2, with the bundled DejaVu fonts so €, £ and accents print).

fpdf2 and the font tools it brings weigh about 30 MB, so only this module imports them, and
the modules that print (documents, tickets) import this one when they print: a web worker that
never renders a PDF never loads them.
"""

from __future__ import annotations

import os

from flask import current_app
from fpdf import FPDF

FONT = "DejaVu"


def add_fonts(pdf: FPDF) -> None:
    """Register the bundled DejaVu (regular and bold) as FONT."""
    fonts = os.path.join(current_app.static_folder or "", "fonts")
    pdf.add_font(FONT, "", os.path.join(fonts, "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", os.path.join(fonts, "DejaVuSans-Bold.ttf"))


def write_facts(pdf: FPDF, rows: list[tuple[str, str]], label_width: float = 45) -> None:
    """Label/value pairs, one per line: the label in bold, the value wrapping beside it."""
    for label, value in rows:
        pdf.set_font(FONT, "B", 10)
        pdf.cell(label_width, 6, label)
        pdf.set_font(FONT, "", 10)
        pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")


def new_page_set(**kwargs) -> FPDF:
    """A blank document with the shop's fonts registered (kwargs go to FPDF)."""
    pdf = FPDF(**kwargs)
    add_fonts(pdf)
    return pdf


class ShopDocument(FPDF):
    """An A4 page with the shop's letterhead and a footer."""

    def __init__(self, title: str):
        super().__init__(format="A4")
        add_fonts(self)
        self.doc_title = title
        self.set_title(title)
        self.set_author(current_app.config["SHOP_NAME"])
        self.set_creator("FixMyPhone")
        self.set_auto_page_break(auto=True, margin=20)
        self.add_page()

    def header(self) -> None:
        cfg = current_app.config
        logo = cfg.get("SHOP_LOGO")
        if logo and os.path.isfile(logo):
            self.image(logo, x=self.w - self.r_margin - 35, y=10, w=35)
        self.set_font(FONT, "B", 15)
        self.cell(0, 8, cfg["SHOP_NAME"], new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, "", 9)
        for line in (cfg["SHOP_ADDRESS"], f"{cfg['SHOP_PHONE']} · {cfg['SHOP_EMAIL']}"):
            self.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
        self.ln(6)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(FONT, "", 8)
        self.cell(0, 5, f"{self.doc_title} · page {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.set_font(FONT, "B", 18)
        self.cell(0, 10, text, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def facts(self, rows: list[tuple[str, str]]) -> None:
        """Label/value pairs, one per line."""
        write_facts(self, rows)
        self.ln(3)

    def totals(self, rows: list[tuple[str, str]], bold_last: bool = True) -> None:
        """Right-aligned totals block."""
        for i, (label, value) in enumerate(rows):
            last = bold_last and i == len(rows) - 1
            self.set_font(FONT, "B" if last else "", 11 if last else 10)
            self.cell(self.epw - 40, 7, label, align="R")
            self.cell(40, 7, value, align="R", new_x="LMARGIN", new_y="NEXT")
