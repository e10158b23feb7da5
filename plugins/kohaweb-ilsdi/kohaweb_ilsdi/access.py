"""Who may call ILS-DI: the client's real address against ``ilsdi.authorized_ips``.

ILS-DI has no authentication of its own; Koha only checks the caller's address. An empty list
lets nobody in (current Koha; older versions let everybody in). X-Forwarded-For is believed
only when the connection comes from a configured trusted proxy, and then it is walked from
the right, skipping further trusted proxies, so a client cannot forge its address by sending
the header itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from kohaweb.plugin_api import ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str], setting: str) -> list[Network]:
    """Addresses and CIDR networks; a bad entry fails start-up naming the setting."""
    networks, problems = [], []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            problems.append(f"{setting}: {entry!r} is not an IP address or CIDR network")
    if problems:
        raise ConfigError(problems)
    return networks


def parse_address(text: str | None) -> Address | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def contains(networks: Iterable[Network], address: Address) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(remote_addr: str | None, forwarded_for: str | None,
                   trusted: list[Network]) -> tuple[Address | None, str]:
    """The address the request really came from, and its text for messages."""
    address = parse_address(remote_addr)
    if address is None:
        return None, remote_addr or ""
    if not forwarded_for or not contains(trusted, address):
        return address, str(address)
    for hop in reversed([part for part in forwarded_for.split(",") if part.strip()]):
        hop_address = parse_address(hop)
        if hop_address is None:
            return None, hop.strip()  # a garbled chain is not believed at all
        address = hop_address
        if not contains(trusted, address):
            break
    return address, str(address)


def allowed(address: Address | None, authorized: list[Network]) -> bool:
    return address is not None and contains(authorized, address)
