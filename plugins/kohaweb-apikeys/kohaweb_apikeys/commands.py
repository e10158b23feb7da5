"""``kohaweb apikeys ...``: manage patron API keys from the shell (scripts, first set-up).

    kohaweb apikeys list PATRON
    kohaweb apikeys create PATRON --description "Discovery layer"   # prints the secret once
    kohaweb apikeys revoke|activate|delete CLIENT_ID

PATRON is a userid, card number or patron number.
"""

from __future__ import annotations

from kohaweb.plugin_api import CommandError


def register(sub) -> None:
    parser = sub.add_parser("apikeys", help="patron API keys (OAuth2 client credentials)")
    actions = parser.add_subparsers(dest="apikeys_action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="list a patron's keys")
    listing.add_argument("patron", help="userid, card number or patron number")
    listing.set_defaults(func=list_keys)
    create = actions.add_parser("create", help="generate a client id/secret pair (the secret is printed once)")
    create.add_argument("patron", help="userid, card number or patron number")
    create.add_argument("--description", "-d", required=True, help="what the key is for")
    create.set_defaults(func=create_key)
    for name, text in (("revoke", "revoke a key (its tokens stop working)"), ("activate", "re-activate a key"),
                       ("delete", "delete a key and its tokens")):
        action = actions.add_parser(name, help=text)
        action.add_argument("client_id")
        action.set_defaults(func=change_key, change=name)


def _patron(session, wanted: str):
    from kohaweb.plugin_api import Patron, find_patron

    patron = find_patron(session, wanted)
    if patron is None and wanted.isdigit():
        patron = session.get(Patron, int(wanted))
    if patron is None:
        raise CommandError(f"no patron with userid, card number or number {wanted!r}")
    return patron


def list_keys(args, cli) -> int:
    from . import keys

    with cli.transaction() as session:
        patron = _patron(session, args.patron)
        rows = keys.list_keys(session, patron.borrowernumber)
        for key in rows:
            used = key.last_used_on.isoformat(sep=" ") if key.last_used_on else "never used"
            cli.out.write(f"{key.client_id}\t{'active' if key.active else 'revoked'}\t{used}\t{key.description}\n")
        if not rows:
            cli.err.write(f"patron {patron.borrowernumber} has no API keys\n")
    return 0


def create_key(args, cli) -> int:
    from . import keys

    with cli.transaction() as session:
        patron = _patron(session, args.patron)
        try:
            fresh = keys.create_key(session, patron.borrowernumber, args.description)
        except keys.ApiKeyError as exc:
            raise CommandError(str(exc)) from None
        client_id = fresh.key.client_id
    # printed after the commit, so a secret is never shown for a key that was not stored
    cli.out.write(f"client_id: {client_id}\nsecret: {fresh.secret}\n")
    cli.err.write("store the secret now: it is shown only once\n")
    return 0


def change_key(args, cli) -> int:
    from kohaweb.plugin_api import ApiKey

    from . import keys

    with cli.transaction() as session:
        key = session.get(ApiKey, args.client_id) if keys.plausible_client_id(args.client_id) else None
        if key is None:
            raise CommandError(f"no API key with client id {args.client_id!r}")
        try:
            {"revoke": keys.revoke, "activate": keys.activate, "delete": keys.delete_key}[args.change](session, key)
        except keys.ApiKeyError as exc:
            raise CommandError(str(exc)) from None
    done = {"revoke": "revoked", "activate": "activated", "delete": "deleted"}[args.change]
    cli.out.write(f"{done} {args.client_id}\n")
    return 0
