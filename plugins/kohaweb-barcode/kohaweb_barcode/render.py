"""Drawing: linear codes through python-barcode's writers, QR codes with segno.

Geometry is in pixels: the PNG writer works in millimetres at a resolution we choose, so at
25.4 dpi one writer millimetre is one pixel. A linear code is ``module_width`` pixels per narrow
module, ``height`` pixels of bars and a quiet zone of twelve modules each side (GD draws none;
scanners need one, EAN and UPC at least eleven modules). The SVG has the same size, in
millimetres at the CSS 96 pixels per inch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import segno
from barcode.writer import ImageWriter, SVGWriter
from PIL import ImageFont

from .symbologies import Symbology, encode

MM_PER_CSS_PX = 25.4 / 96
QUIET_MODULES = 12
FONT_PX = 14  # the human-readable line
TEXT_GAP_PX = 4
QR_BORDER = 4  # modules, as the QR standard asks


@dataclass(frozen=True)
class BarcodeRequest:
    """Everything that decides the image; also the cache key."""

    symbology: Symbology
    text: str  # completed by symbologies.complete (check digits, start/stop characters)
    notext: bool = False
    height: int = 50
    modulesize: int = 5  # QR: pixels per module
    module_width: int = 2  # linear: pixels per narrow module
    format: str = "png"

    @property
    def key(self) -> tuple:
        if self.symbology.linear:
            return (self.symbology.name, self.text, self.notext, self.height, self.module_width, self.format)
        return (self.symbology.name, self.text, self.modulesize, self.format)


MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


@lru_cache(maxsize=8)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    # python-barcode loads the TrueType font for every image; loading it once is most of our speed.
    return ImageFont.truetype(path, size)


class PngWriter(ImageWriter):
    """python-barcode's ImageWriter drawing black on white in one bit per pixel (what GD draws,
    and eight times less for zlib to compress), with the font loaded once."""

    def __init__(self) -> None:
        super().__init__(format="PNG", mode="1", dpi=25.4)

    def _paint_module(self, xpos: float, ypos: float, width: float, color) -> None:
        if color == self.background:
            return  # the image starts white
        # Whole pixels: the float millimetre arithmetic of the original can make a one-pixel bar
        # zero or negative wide.
        left, top = round(xpos), round(ypos)
        right, bottom = round(xpos + width) - 1, round(ypos + self.module_height) - 1
        if right >= left and bottom >= top:
            self._draw.rectangle((left, top, right, bottom), fill=0)

    def _paint_text(self, xpos: float, ypos: float) -> None:
        font = _font(self.font_path, FONT_PX)
        self._draw.text((xpos, ypos), self.human or self.text, font=font, fill=0, anchor="md")

    def write(self, content, fp) -> None:
        content.save(fp, format="PNG", compress_level=6)


def render(req: BarcodeRequest) -> bytes:
    """The image bytes; raises symbologies.InvalidBarcode for data the type cannot encode."""
    _, code = encode(req.symbology, req.text)
    if code is None:
        return _render_qr(req)
    pattern = code.build()[0].replace("G", "1")
    scale = 1.0 if req.format == "png" else MM_PER_CSS_PX
    writer = PngWriter() if req.format == "png" else SVGWriter()
    options = {
        "module_width": req.module_width * scale,
        "module_height": req.height * scale,
        "quiet_zone": QUIET_MODULES * req.module_width * scale,
        "margin_top": 0,
        "margin_bottom": 0,
        "text": "" if req.notext else code.get_fullcode(),
        "write_text": not req.notext,
        "center_text": True,
        # The text's baseline sits text_distance below the bars; the writers add half the font
        # size (given in points, 1 pt = 0.3528 mm) below it for the descenders.
        "text_distance": (FONT_PX + TEXT_GAP_PX) * scale,
        "font_size": FONT_PX * 0.75 if req.format == "svg" else 2 * TEXT_GAP_PX / 0.352777778,
    }
    if req.format == "svg":
        writer.compress = True  # no pretty-printing
        writer.with_doctype = False
    writer.set_options(options)
    output = writer.render([pattern])
    if req.format == "svg":
        return output
    buffer = io.BytesIO()
    writer.write(output, buffer)
    return buffer.getvalue()


def _render_qr(req: BarcodeRequest) -> bytes:
    # ECC M, the smallest version for the most compact mode of the UTF-8 bytes: what
    # GD::Barcode::QRcode does for Koha (the tests compare versions).
    try:
        qr = segno.make_qr(req.text.encode("utf-8"), error="m", boost_error=False)
    except segno.DataOverflowError:
        raise req.symbology.fail("it is too long for a QR code") from None
    buffer = io.BytesIO()
    if req.format == "svg":
        qr.save(buffer, kind="svg", scale=req.modulesize, border=QR_BORDER, xmldecl=False, svgns=True)
    else:
        qr.save(buffer, kind="png", scale=req.modulesize, border=QR_BORDER)
    return buffer.getvalue()
