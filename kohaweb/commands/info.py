"""kohaweb plugins / kohaweb settings"""

from __future__ import annotations

from .. import plugins
from ..settings import CORE_SETTINGS, ConfigError, settings_table


def register(sub) -> None:
    sub.add_parser("plugins", help="list installed and enabled services and formats").set_defaults(
        func=list_plugins)


def register_settings(sub) -> None:
    parser = sub.add_parser("settings", help="print every declared setting as a Markdown table")
    parser.add_argument("--readme", metavar="FILE", help="rewrite the table between the markers in FILE")
    parser.set_defaults(func=print_settings)


def list_plugins(args, cli) -> int:
    try:
        enabled = set(cli.raw_settings.get("kohaweb.services", "").replace(",", " ").split())
    except ConfigError:
        enabled = set()
    cli.out.write("services:\n")
    services = plugins.installed(plugins.SERVICES)
    for name, ep in services.items():
        state = "enabled" if name in enabled else "installed"
        cli.out.write(f"  {name:<12} {state:<10} {ep.distribution} {ep.version}\n")
    for name in sorted(enabled - set(services)):
        cli.out.write(f"  {name:<12} {'MISSING':<10} install kohaweb-{name}\n")
    cli.out.write("plugins:\n")
    for name, ep in plugins.installed(plugins.PLUGINS).items():
        cli.out.write(f"  {name:<12} {'installed':<10} {ep.distribution} {ep.version}\n")
    cli.out.write("formats:\n")
    for name, ep in plugins.installed(plugins.FORMATS).items():
        cli.out.write(f"  {name:<12} {'installed':<10} {ep.distribution} {ep.version}\n")
    return 0


def print_settings(args, cli) -> int:
    table = settings_table(all_settings())
    if args.readme:
        _replace_between_markers(args.readme, table)
        cli.out.write(f"updated the settings table in {args.readme}\n")
    else:
        cli.out.write(table + "\n")
    return 0


START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def _replace_between_markers(path: str, table: str) -> None:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{head}{START}\n{table}\n{END}{tail}")


def all_settings() -> dict:
    """Every declared setting (``register_settings``) of the core, every installed service and
    every ``kohaweb.plugins`` plugin, by prefix."""
    services = {name: plugins.load_service(name) for name in plugins.installed(plugins.SERVICES)}
    return {"kohaweb": CORE_SETTINGS, **plugins.build_hooks(services).settings()}
