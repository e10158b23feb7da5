"""kohaweb serve [--workers N]"""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("serve", help="serve the application with waitress as [server:main] of the "
                            "configuration file says, in one or several processes")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing the listening socket (one Python process uses about one core)")
    parser.set_defaults(func=run_serve)


def run_serve(args, cli) -> int:
    import plaster
    from pyramid.paster import get_app, setup_logging

    from ..cli import CommandError
    from ..serving import listening_socket, serve

    if args.workers < 1:
        raise CommandError("--workers must be positive")
    setup_logging(cli.config_path)  # the file's [loggers], as pserve does
    options = dict(plaster.get_settings(cli.config_path, "server:main"))
    options.pop("use", None)
    # waitress then refuses larger bodies itself, before receiving them (the app refuses them too)
    options.setdefault("max_request_body_size", str(cli.site.core["max_body_size"]))
    listen = options.pop("listen", "127.0.0.1:6543")
    if " " in listen.strip():
        raise CommandError("kohaweb serve listens on one address; give [server:main] a single listen = host:port")
    try:
        sock = listening_socket(listen)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CommandError(f"cannot listen on {listen}: {reason} (set listen = host:port in [server:main] "
                           f"of {cli.config_path})") from None
    host, port = sock.getsockname()[:2]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    # announced once the socket is bound: the address is then really served
    cli.out.write(f"serving on http://{address} with {args.workers} process(es); "
                  f"staff sign-in at http://{address}/login\n")
    cli.out.flush()
    serve(lambda: get_app(cli.config_path, "main"), sock, workers=args.workers, **options)
    return 0
