"""A network device that is up, now and at boot: an existing NIC, or a device a kernel module makes (tunl0,
the ipip fallback tunnel, appears when the ipip module loads).

tunl0 cannot be created with `ip link add`: the kernel makes it when its module loads, which may happen
earlier in the same apply script, so its absence from the facts is not an error when `module` is given.
"""

from __future__ import annotations

import re

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, check_args, q

NAME = "ip_link"

_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")  # IFNAMSIZ - 1, no '/' or whitespace
_MODULE = re.compile(r"^[A-Za-z0-9_-]+$")


def _args(args: dict) -> dict:
    check_args(NAME, args, ("name",), ("module",))
    name, module = args["name"], args.get("module")
    if not isinstance(name, str) or not _IFNAME.match(name):
        raise ModuleError(f"{NAME}: {name!r} is not a network device name (1-15 characters, no '/' or spaces)")
    if module is not None and (not isinstance(module, str) or not _MODULE.match(module)):
        raise ModuleError(f"{NAME}: module must be a kernel module name, got {module!r}")
    return {"name": name, "module": module}


def facts_needed(args: dict) -> FactsRequest:
    _args(args)
    return FactsRequest()  # links are always read


def _ensure_up(a: dict, with_module: bool) -> list[str]:
    lines = [f"modprobe {q(a['module'])}"] if with_module and a["module"] else []
    return lines + [f"ip link set {q(a['name'])} up"]


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    name = a["name"]
    link = facts.interfaces.get(name)
    resource = f"link {name}"
    if link is not None:
        return [] if link.up else [Change(resource, ("- down", "+ up"), (f"ip link set {q(name)} up",))]
    if not a["module"]:
        raise ModuleError(f"{NAME}: there is no network device {name} on this host; check the device name")
    needs_module = a["module"].replace("-", "_") not in facts.modules_loaded
    return [Change(resource, (f"+ {name} up",), tuple(_ensure_up(a, needs_module)))]


def persist(args: dict, facts) -> list[tuple[str, str]]:
    """Lines of the boot script: load the module that makes the device, then bring it up."""
    return [("network", line) for line in _ensure_up(_args(args), with_module=True)]
