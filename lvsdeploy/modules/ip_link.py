"""A network device that is up (or gone): an existing NIC, a dummy device, or the ipip fallback tunl0.

tunl0 cannot be created with `ip link add`: the kernel makes it when the ipip module loads, which may happen
earlier in the same apply script, so its absence from the facts is not an error.
"""

from __future__ import annotations

import re

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, check_args, choice, q

NAME = "ip_link"

_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")  # IFNAMSIZ - 1, no '/' or whitespace


def _args(args: dict) -> dict:
    check_args(NAME, args, ("name",), ("kind", "state", "module"))
    name = args["name"]
    if not isinstance(name, str) or not _IFNAME.match(name):
        raise ModuleError(f"{NAME}: {name!r} is not a network device name (1-15 characters, no '/' or spaces)")
    kind = choice(NAME, args, "kind", ("ipip", "dummy", None))
    if kind == "ipip" and name != "tunl0":
        raise ModuleError(f"{NAME}: kind ipip is only supported for tunl0 (made by the ipip module), got {name}")
    module = args.get("module")
    if module is not None and (not isinstance(module, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", module)):
        raise ModuleError(f"{NAME}: module must be a kernel module name, got {module!r}")
    return {"name": name, "kind": kind, "state": choice(NAME, args, "state", ("up", "absent"), "up"), "module": module}


def facts_needed(args: dict) -> FactsRequest:
    _args(args)
    return FactsRequest()  # links are always read


def _ensure_up(a: dict, with_module: bool) -> list[str]:
    name = q(a["name"])
    lines = [f"modprobe {q(a['module'])}"] if with_module and a["module"] else []
    if a["kind"] == "dummy":
        # Loading the dummy module creates dummy0 by itself (numdummies=1): only add what is missing.
        lines.append(f"ip link show {name} >/dev/null 2>&1 || ip link add {name} type dummy")
    lines.append(f"ip link set {name} up")
    return lines


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    name = a["name"]
    link = facts.interfaces.get(name)
    resource = f"link {name}"
    if link is not None and a["kind"] and link.kind != a["kind"]:
        raise ModuleError(
            f"{NAME}: device {name} exists with kind {link.kind or 'none'}, not {a['kind']}; rename one of them"
        )

    if a["state"] == "absent":
        if link is None:
            return []
        if name == "tunl0" or link.kind == "ipip":
            # The fallback tunnel lives as long as the ipip module; down is as absent as it gets.
            return [] if not link.up else [Change(resource, ("- up", "+ down"), (f"ip link set {q(name)} down",))]
        if link.kind is None:
            raise ModuleError(f"{NAME}: {name} is a physical or system device; lvsdeploy does not delete it")
        return [Change(resource, (f"- {name} ({link.kind})",), (f"ip link del {q(name)}",))]

    if link is not None:
        return [] if link.up else [Change(resource, ("- down", "+ up"), (f"ip link set {q(name)} up",))]
    needs_module = bool(a["module"]) and a["module"].replace("-", "_") not in facts.modules_loaded
    if a["kind"] is None and not a["module"]:
        raise ModuleError(f"{NAME}: there is no network device {name} on this host; check the device name")
    created = f"+ {name} ({a['kind']}) up" if a["kind"] else f"+ {name} up"
    return [Change(resource, (created,), tuple(_ensure_up(a, needs_module)))]


def boot_lines(args: dict, facts) -> list[str]:
    a = _args(args)
    return _ensure_up(a, with_module=True) if a["state"] == "up" else []
