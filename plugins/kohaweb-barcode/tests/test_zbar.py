"""Every image of a type zbar reads is read back as the data asked for (zbar checks the check
digits itself), at several sizes, with and without the text line."""

from __future__ import annotations

import io

import pytest
from kohaweb_barcode.render import BarcodeRequest, render
from kohaweb_barcode.symbologies import get_symbology
from kohaweb_barcode.urls import signed_barcode_params

from kohaweb.testing import TEST_SECRET

# (type, input, zbar's name, what zbar reads)
CASES = [
    ("Code39", "39085001234567", "CODE-39", "39085001234567"),
    ("Code39", "*LIB-00042*", "CODE-39", "LIB-00042"),
    ("Code39", "abc $/+%.", "CODE-39", "ABC $/+%."),
    ("EAN13", "978020137962", "EAN-13", "9780201379624"),
    ("EAN13", "4006381333931", "EAN-13", "4006381333931"),
    ("EAN13", "200000000001", "EAN-13", "2000000000015"),
    ("EAN8", "7351353", "EAN-8", "73513537"),
    ("EAN8", "96385074", "EAN-8", "96385074"),
    ("UPCA", "03600029145", "UPC-A", "036000291452"),
    ("UPCA", "123456789012", "UPC-A", "123456789012"),
    ("UPCE", "123456", "UPC-E", "01234565"),
    ("UPCE", "0654321", "UPC-E", "06543217"),
    ("UPCE", "04252614", "UPC-E", "04252614"),
    ("NW7", "A40156B", "Codabar", "A40156B"),
    ("NW7", "31117013206375", "Codabar", "A31117013206375A"),
    ("NW7", "c-$:/.+d", "Codabar", "C-$:/.+D"),
    ("ITF", "12345678", "I2/5", "12345678"),
    ("ITF", "1234567", "I2/5", "12345670"),
    ("ITF", "00012345678905", "I2/5", "00012345678905"),
    ("QRcode", "https://library.example.org/cgi-bin/koha/opac-detail.pl?biblionumber=42", "QR-Code",
     "https://library.example.org/cgi-bin/koha/opac-detail.pl?biblionumber=42"),
    ("QRcode", "39085001234567", "QR-Code", "39085001234567"),
    ("QRcode", "x" * 1000, "QR-Code", "x" * 1000),
    ("QRcode", "Bibliothèque municipale ☃ 图书馆", "QR-Code", "Bibliothèque municipale ☃ 图书馆"),
]


@pytest.mark.parametrize("notext", [False, True])
@pytest.mark.parametrize("module_width, height, modulesize", [(2, 50, 5), (2, 20, 2), (3, 80, 8)])
def test_zbar_reads_every_image(zbar, tmp_path, notext, module_width, height, modulesize):
    images = {}
    for type_name, text, _, _ in CASES:
        req = BarcodeRequest(get_symbology(type_name), text, notext=notext, height=height,
                             modulesize=modulesize, module_width=module_width)
        images[(type_name, text)] = render(req)
    found = zbar(images, tmp_path)
    for type_name, text, zbar_type, data in CASES:
        assert found[(type_name, text)] == [(zbar_type, data)], (type_name, text)


def test_zbar_reads_images_served_over_http(app, zbar, tmp_path):
    images = {}
    for type_name, text, _, _ in CASES:
        params = signed_barcode_params(TEST_SECRET, text, type_name.lower(), max_age=60)
        response = app.get("/cgi-bin/koha/svc/barcode", params)
        assert response.content_type == "image/png"
        images[(type_name, text)] = response.body
    found = zbar(images, tmp_path)
    assert {key: value[0][1] for key, value in found.items() if value} == \
        {(t, text): data for t, text, _, data in CASES}


QR_TEXTS = [
    "hello", "39085001234567", "HELLO WORLD", "A" * 300, "1" * 500, "3" * 41, "3" * 42, "x" * 100,
    "https://library.example.org/cgi-bin/koha/opac-detail.pl?biblionumber=42",
    "BEGIN:VCARD VERSION:3.0 N:Library;Main FN:Main Library END:VCARD",
]


def test_qr_codes_have_gd_barcodes_version_and_data(gd_patterns, zbar, tmp_path):
    """GD::Barcode::QRcode and segno pick the same version (mode and size) for the same data at
    ECC M; their masks differ, so the modules are compared by what zbar reads from both."""
    from PIL import Image

    gd_rows = [pattern.strip(",").split(",") for pattern in gd_patterns([("QRcode", t) for t in QR_TEXTS])]
    images = {}
    for text, rows in zip(QR_TEXTS, gd_rows, strict=True):
        ours = render(BarcodeRequest(get_symbology("QRcode"), text, modulesize=1))
        # GD's rows include a four-module border, as ours does.
        assert Image.open(io.BytesIO(ours)).size == (len(rows), len(rows)), text
        gd_image = Image.new("1", (len(rows), len(rows)), 1)
        gd_image.putdata([0 if c == "1" else 1 for row in rows for c in row])
        buffer = io.BytesIO()
        gd_image.resize((len(rows) * 4, len(rows) * 4), Image.NEAREST).save(buffer, format="PNG")
        images[("gd", text)] = buffer.getvalue()
        images[("ours", text)] = render(BarcodeRequest(get_symbology("QRcode"), text, modulesize=4))
    found = zbar(images, tmp_path)
    for text in QR_TEXTS:
        assert found[("gd", text)] == found[("ours", text)] == [("QR-Code", text)]
