"""An IPv4 route in the main table (e.g. real servers in LVS-NAT routing back through the director)."""

from __future__ import annotations

from lvsdeploy.facts.network import normalise_dst
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_ipv4, as_network, as_str, check_args, choice, q

NAME = "ip_route"


def _args(args: dict) -> dict:
    check_args(NAME, args, ("dst",), ("via", "dev", "state"))
    dst = args["dst"]
    if dst != "default":
        dst = normalise_dst(str(as_network(NAME, "dst", dst)))
    a = {
        "dst": dst,
        "via": str(as_ipv4(NAME, "via", args["via"])) if args.get("via") is not None else None,
        "dev": as_str(NAME, "dev", args["dev"]) if args.get("dev") is not None else None,
        "state": choice(NAME, args, "state", ("present", "absent"), "present"),
    }
    if a["state"] == "present" and not (a["via"] or a["dev"]):
        raise ModuleError(f"{NAME}: a route to {dst} needs via (a gateway) or dev")
    return a


def facts_needed(args: dict) -> FactsRequest:
    _args(args)
    return FactsRequest()  # routes are always read


def _spec(dst: str, via: str | None, dev: str | None, metric: int | None = None) -> str:
    text = dst
    if via:
        text += f" via {via}"
    if dev:
        text += f" dev {q(dev)}"
    if metric is not None:
        text += f" metric {metric}"
    return text


def _matches(route, a) -> bool:
    return (
        route.type == "unicast"
        and route.dst == a["dst"]
        and (a["via"] is None or route.gateway == a["via"])
        and (a["dev"] is None or route.dev == a["dev"])
    )


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    resource = f"route {a['dst']}"
    if a["state"] == "absent":
        gone = [r for r in facts.routes if _matches(r, a)]
        return [
            Change(
                resource,
                tuple(f"- {_spec(r.dst, r.gateway, r.dev, r.metric)}" for r in gone),
                tuple(f"ip route del {_spec(r.dst, r.gateway, r.dev, r.metric)}" for r in gone),
            )
        ] if gone else []

    if any(_matches(r, a) for r in facts.routes):
        return []
    # `replace` swaps the route to this destination (same metric) or adds it when there is none.
    others = [r for r in facts.routes if r.type == "unicast" and r.dst == a["dst"] and r.metric is None]
    want = _spec(a["dst"], a["via"], a["dev"])
    diff = tuple(f"- {_spec(r.dst, r.gateway, r.dev)}" for r in others) + (f"+ {want}",)
    return [Change(resource, diff, (f"ip route replace {want}",))]


def persist(args: dict, facts) -> list[tuple[str, str]]:
    """A line of the boot script that re-creates addresses, links and routes."""
    a = _args(args)
    return [("network", f"ip route replace {_spec(a['dst'], a['via'], a['dev'])}")] if a["state"] == "present" else []
