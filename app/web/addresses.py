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
import time

import psutil


def own_ipv4() -> list[str]:
    """Every IPv4 address of this machine's interfaces but the loopback ones."""
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                out.append(str(a.address))
    return sorted(set(out))


# Every page the presenter sees says the students' address: it is looked up
# again this long after it was last (a laptop that changed networks).
LOOKED_UP_S = 10.0
_looked_up: tuple[float, str] = (-LOOKED_UP_S, "")


def base_url(host: str, port: int) -> str:
    """This server as other machines reach it: at `host` if it is bound to
    one address, else (every interface: `--lan`) at `lan_address`."""
    if host in ("0.0.0.0", "::"):
        global _looked_up
        when, address = _looked_up
        if time.monotonic() - when >= LOOKED_UP_S:
            _looked_up = (time.monotonic(), address := lan_address())
        host = address
    return f"http://{host}:{port}"


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
