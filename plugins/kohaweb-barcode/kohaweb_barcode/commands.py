"""``kohaweb barcode-url``: print a signed URL of a barcode image, for notice templates and
mailings made outside kohaweb."""

from __future__ import annotations

from urllib.parse import urlencode

from kohaweb.plugin_api import CommandError

from .symbologies import TYPE_NAMES, InvalidBarcode, encode, get_symbology


def register(sub) -> None:
    parser = sub.add_parser("barcode-url", help="print a signed URL of a barcode image (no login needed)")
    parser.add_argument("barcode", help="the data to encode")
    parser.add_argument("--type", default="Code39", help=f"barcode type, one of {TYPE_NAMES} (default Code39)")
    parser.add_argument("--notext", action="store_true", help="no human-readable line under the bars")
    parser.add_argument("--height", type=int, help="bar height in pixels")
    parser.add_argument("--modulesize", type=int, help="QR code: pixels per module")
    parser.add_argument("--format", choices=("png", "svg"), help="image format (default png)")
    parser.add_argument("--lifetime", type=int,
                        help="seconds the URL stays valid (default: the barcode.signed_url_lifetime setting)")
    parser.add_argument("--base-url", help="scheme://host[:port] of the service (default: kohaweb.base_url)")
    parser.add_argument("--koha-path", action="store_true", help="use Koha's /cgi-bin/koha/svc/barcode path")
    parser.set_defaults(func=barcode_url_command)


def barcode_url_command(args, cli) -> int:
    from . import SETTINGS
    from .urls import signed_barcode_params

    try:
        sym = get_symbology(args.type)
        encode(sym, args.barcode)  # refuse now what the service would refuse later
    except InvalidBarcode as exc:
        raise CommandError(str(exc)) from None
    if args.lifetime is not None and args.lifetime < 1:
        raise CommandError("--lifetime must be at least 1 second")
    site = cli.site
    secret = site.core["secret"]
    if not secret:
        raise CommandError("kohaweb.secret is not set; signed URLs need it")
    configured = site.settings.get("barcode") or {s.name.split(".", 1)[1]: s.default for s in SETTINGS}
    params = signed_barcode_params(secret, args.barcode, sym.name,
                                   max_age=args.lifetime or configured["signed_url_lifetime"],
                                   notext=args.notext, height=args.height, modulesize=args.modulesize,
                                   format=args.format)
    base = (args.base_url or site.core.get("base_url") or "").rstrip("/")
    path = "/cgi-bin/koha/svc/barcode" if args.koha_path else "/svc/barcode"
    cli.out.write(f"{base}{path}?{urlencode(params)}\n")
    return 0
