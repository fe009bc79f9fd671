"""One file that makes what the roles set at run time survive a reboot.

Every module that changes runtime state says how it is restored at boot (its `persist(args, facts)` returns
(kind, line) pairs); plan.py collects them, task by task, and hands each boot_file task the lines of its kind
from the tasks before it. The file is then an ordinary `file` resource: diffed, written atomically.

kinds: kernel_module (/etc/modules-load.d), sysctl (/etc/sysctl.d), network (a shell script run by a boot
unit: addresses, links, routes; IPVS timeouts and the FULLNAT chain), ipvs (the table, in `ipvsadm -R` syntax).
"""

from __future__ import annotations

from lvsdeploy.modules import file
from lvsdeploy.modules.base import Change, FactsRequest, check_args, choice

NAME = "boot_file"

HEADERS = {
    "kernel_module": "# Managed by lvsdeploy: kernel modules loaded at boot.\n",
    "sysctl": "# Managed by lvsdeploy: kernel settings applied at boot, before any address appears.\n",
    "network": "#!/bin/sh\n# Managed by lvsdeploy: re-creates at boot the addresses, links and routes lvsdeploy "
               "manages\n# (on a director also the IPVS timeouts and the FULLNAT nat chain).\n"
               "# Every command is idempotent (replace, set up), so running it twice is harmless.\nset -e\n",
    "ipvs": "",   # ipvsadm -R reads rules only
}
KINDS = tuple(HEADERS)


def _args(args: dict) -> dict:
    check_args(NAME, args, ("kind", "path"), ("mode",))
    return {"kind": choice(NAME, args, "kind", KINDS), "path": args["path"], "mode": args.get("mode", "0644")}


def content(kind: str, lines: list[str]) -> str:
    """The file's text: the header, then each line once, in the order the tasks produced them."""
    return HEADERS[kind] + "".join(f"{line}\n" for line in dict.fromkeys(lines))


def _file_args(args: dict, persisted: dict[str, list[str]]) -> dict:
    a = _args(args)
    return {"path": a["path"], "mode": a["mode"], "content": content(a["kind"], persisted.get(a["kind"], []))}


def facts_needed(args: dict) -> FactsRequest:
    return file.facts_needed(_file_args(args, {}))


def plan(args: dict, facts, persisted: dict[str, list[str]]) -> list[Change]:
    return file.plan(_file_args(args, persisted), facts)
