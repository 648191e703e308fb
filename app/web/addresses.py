"""This machine's addresses on its networks: those the server answers to
when it serves a classroom (`--lan`), and the one students are given.

Not from the machine's name: on most installs it resolves to a loopback
address (127.0.1.1 on Debian and Ubuntu), which no student can reach. The
network interfaces say what the machine really has.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket

import psutil


def own_ipv4() -> list[str]:
    """Every IPv4 address of this machine's interfaces but the loopback ones."""
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                out.append(str(a.address))
    return sorted(set(out))


def lan_address() -> str:
    """The address students' devices reach this machine at: the one its
    traffic leaves from (a UDP socket's connect sends nothing), else its
    first other IPv4 address, else localhost (no network)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        chosen = ipaddress.ip_address(s.getsockname()[0])
        if not (chosen.is_loopback or chosen.is_unspecified):
            return str(chosen)
    found = own_ipv4()
    return found[0] if found else "localhost"
