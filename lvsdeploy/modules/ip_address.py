"""An IPv4 address on an interface (a VIP on the director's NIC, or on lo of a real server).

When `dev` is not given, the interface is the one (not lo) holding an address in the same network as the
address itself: inventories name networks, not NIC names, which differ between machines.
"""

from __future__ import annotations

from lvsdeploy.modules.base import (
    Change,
    FactsRequest,
    ModuleError,
    as_interface,
    as_str,
    check_args,
    choice,
    q,
)

NAME = "ip_address"


def _args(args: dict) -> dict:
    check_args(NAME, args, ("address",), ("dev", "state", "hint"))
    return {
        "address": as_interface(NAME, "address", args["address"]),
        "dev": as_str(NAME, "dev", args["dev"]) if args.get("dev") is not None else None,
        "state": choice(NAME, args, "state", ("present", "absent"), "present"),
        "hint": args.get("hint"),
    }


def facts_needed(args: dict) -> FactsRequest:
    _args(args)
    return FactsRequest()  # addresses are always read


def find_device(address, facts, hint=None) -> str:
    """The non-lo interface whose network contains the address.

    With several candidates the most specific network wins. /32 addresses (VIPs) cover nothing: a VIP
    follows the subnet, and a stray /32 copy of it elsewhere must not pull it over. An interface holding
    only such a /32 of the address is the answer when no network covers it.
    """
    target = address.ip
    covering = [
        (a.network.prefixlen, i.name)
        for i in facts.interfaces.values()
        if i.name != "lo"
        for a in i.addresses
        if target in a.network and a.network.prefixlen < 32
    ]
    if covering:
        return sorted(covering, key=lambda c: (-c[0], c[1]))[0][1]
    holding = sorted(i.name for i, _ in facts.interface_with(address.ip) if i.name != "lo")
    if holding:
        return holding[0]
    what = f"an address in the same network as {target}"
    setting = f"set the inventory variable {hint}" if hint else "give dev"
    raise ModuleError(
        f"{NAME}: cannot place {address}: no interface other than lo has {what}; {setting} to name the interface"
    )


def _device(a: dict, facts) -> str:
    return a["dev"] or find_device(a["address"], facts, a["hint"])


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    address = a["address"]
    placed = facts.interface_with(address.ip)
    if a["state"] == "absent":
        gone = [(i.name, addr) for i, addr in placed if a["dev"] in (None, i.name)]
        if not gone:
            return []
        return [
            Change(
                resource=f"address {address.ip} absent",
                diff=tuple(f"- {addr} dev {dev}" for dev, addr in gone),
                commands=tuple(f"ip addr del {addr} dev {q(dev)}" for dev, addr in gone),
            )
        ]

    dev = _device(a, facts)
    wrong = [(i.name, addr) for i, addr in placed if (i.name, addr) != (dev, address)]
    if placed and not wrong:  # exactly where it should be, and nowhere else
        return []
    diff = [f"- {addr} dev {d}" for d, addr in wrong]
    commands = [f"ip addr del {addr} dev {q(d)}" for d, addr in wrong]
    if len(wrong) == len(placed):
        diff.append(f"+ {address} dev {dev}")
        commands.append(f"ip addr replace {address} dev {q(dev)}")
    return [Change(resource=f"address {address} dev {dev}", diff=tuple(diff), commands=tuple(commands))]


def persist(args: dict, facts) -> list[tuple[str, str]]:
    """A line of the boot script that re-creates addresses, links and routes."""
    a = _args(args)
    if a["state"] == "absent":
        return []
    return [("network", f"ip addr replace {a['address']} dev {q(_device(a, facts))}")]
