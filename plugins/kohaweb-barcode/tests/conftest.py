from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from kohaweb.testing import basic_auth

GD_SCRIPT = r"""
use strict; use warnings;
binmode STDIN; binmode STDOUT;
while (my $line = <STDIN>) {
    chomp $line;
    my ($type, $text) = split /\t/, $line, 2;
    my $module = "GD::Barcode::$type";
    eval "require $module" or die $@;
    my $barcode = $type eq "QRcode" ? $module->new($text, {Ecc => "M", ModuleSize => 1}) : $module->new($text);
    if (!$barcode) { no strict 'refs'; print "ERROR\t", ${"${module}::errStr"}, "\n"; next; }
    my $pattern = $barcode->barcode();
    $pattern =~ s/\n/,/g;  # QR codes: rows
    print "OK\t", $pattern, "\n";
}
"""


def _missing(what: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI (the Makefile installs it)")
    pytest.skip(f"{what} is not installed; install it to compare/decode barcodes")


@pytest.fixture(scope="session")
def gd_patterns():
    """``gd_patterns([(type, text), ...])`` -> GD::Barcode's ``barcode()`` pattern for each (QR
    codes: rows separated by commas), or ``"ERROR <message>"`` where GD refuses the input."""
    if shutil.which("perl") is None:
        _missing("perl")
    probe = subprocess.run(["perl", "-MGD::Barcode::UPCE", "-e", "1"], capture_output=True)
    if probe.returncode != 0:
        _missing("GD::Barcode (Debian libgd-barcode-perl)")

    def run(cases: list[tuple[str, str]]) -> list[str]:
        stdin = "".join(f"{t}\t{text}\n" for t, text in cases)
        done = subprocess.run(["perl", "-e", GD_SCRIPT], input=stdin.encode(), capture_output=True, check=True)
        lines = done.stdout.decode().splitlines()
        assert len(lines) == len(cases), done.stderr.decode()
        return [line.split("\t", 1)[1] if line.startswith("OK\t") else "ERROR " + line[6:] for line in lines]

    return run


@pytest.fixture(scope="session")
def zbar():
    """``zbar({name: png_bytes})`` -> {name: [(zbar type, data), ...]} decoded by zbarimg."""
    if shutil.which("zbarimg") is None:
        _missing("zbarimg (Debian zbar-tools)")

    def decode(images: dict[str, bytes], tmp: Path) -> dict[str, list[tuple[str, str]]]:
        paths = {}
        for i, (name, data) in enumerate(images.items()):
            path = tmp / f"image{i}.png"
            path.write_bytes(data)
            paths[str(path)] = name
        # UPC-A and UPC-E reported as themselves, not as EAN-13.
        done = subprocess.run(["zbarimg", "--xml", "-q", "-Supca.enable", "-Supce.enable", *paths],
                              capture_output=True)
        root = etree.fromstring(done.stdout)
        found: dict[str, list[tuple[str, str]]] = {name: [] for name in images}
        for source in root.iter("{*}source"):
            name = paths[source.get("href")]
            for symbol in source.iter("{*}symbol"):
                data = symbol.findtext("{*}data")
                if symbol.find("{*}data").get("format") == "base64":
                    # zbar's XML mangles non-ASCII text; its raw output has the decoded bytes.
                    raw = subprocess.run(["zbarimg", "-q", "--raw", source.get("href")], capture_output=True)
                    data = raw.stdout.decode("utf-8").rstrip("\n")
                found[name].append((symbol.get("type"), data))
        return found

    return decode


@pytest.fixture
def barcode_app(make_app):
    def factory(**settings):
        return make_app(services=["barcode"], settings={"kohaweb.auth.basic": "true", **settings})

    return factory


@pytest.fixture
def app(barcode_app):
    return barcode_app()


@pytest.fixture
def cataloguer(staff_user):
    userid, password, _ = staff_user("cataloguer", "catalogue")
    return basic_auth(userid, password)
