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
    from pyramid.paster import get_app

    from ..cli import CommandError
    from ..serving import listening_socket, serve

    if args.workers < 1:
        raise CommandError("--workers must be positive")
    options = dict(plaster.get_settings(cli.config_path, "server:main"))
    options.pop("use", None)
    listen = options.pop("listen", "127.0.0.1:6543")
    if " " in listen.strip():
        raise CommandError("kohaweb serve listens on one address; give [server:main] a single listen = host:port")
    sock = listening_socket(listen)
    cli.out.write(f"serving on http://{listen} with {args.workers} process(es)\n")
    cli.out.flush()
    serve(lambda: get_app(cli.config_path, "main"), sock, workers=args.workers, **options)
    return 0
