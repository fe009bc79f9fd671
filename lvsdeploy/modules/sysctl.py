"""A sysctl's runtime value, and at boot (persist: a line of /etc/sysctl.d/90-lvsdeploy.conf)."""

from __future__ import annotations

from lvsdeploy.facts.kernel import valid_sysctl_key
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_str, check_args, q

NAME = "sysctl"


def _args(args: dict) -> tuple[str, str]:
    check_args(NAME, args, ("name", "value"))
    name = args["name"]
    if not isinstance(name, str) or not valid_sysctl_key(name):
        raise ModuleError(f"{NAME}: {name!r} is not a sysctl key (e.g. net.ipv4.ip_forward)")
    return name, normalise(as_str(NAME, "value", args["value"]))


def normalise(value: str) -> str:
    """The kernel prints multi-value keys with tabs ("32768\\t60999"); users write spaces."""
    return " ".join(value.split())


def facts_needed(args: dict) -> FactsRequest:
    return FactsRequest(sysctls={_args(args)[0]})


def plan(args: dict, facts) -> list[Change]:
    name, value = _args(args)
    current = facts.sysctls.get(name)
    if current is not None and normalise(current) == value:
        return []
    # A key absent now is still written: a module loaded earlier in the same script may create it
    # (net.ipv4.vs.* appears with ip_vs). If it is still missing then, sysctl fails and says so.
    old = "<absent>" if current is None else normalise(current)
    return [
        Change(
            resource=f"sysctl {name}",
            diff=(f"- {old}", f"+ {value}"),
            commands=(f"sysctl -q -w {q(f'{name}={value}')}",),
        )
    ]


def persist(args: dict, facts) -> list[tuple[str, str]]:
    name, value = _args(args)
    return [("sysctl", f"{name} = {value}")]
