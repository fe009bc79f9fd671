"""Debian packages present (installed with apt-get when missing)."""

from __future__ import annotations

import re

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, check_args, q

NAME = "package"

# Debian policy: lower case letters, digits, + - . ; at least two characters, starting alphanumeric.
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def _names(args: dict) -> list[str]:
    check_args(NAME, args, ("name",))
    names = args["name"]
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names:
        raise ModuleError(f"{NAME}: name must be a package name or a non-empty list of them, got {args['name']!r}")
    for name in names:
        if not isinstance(name, str) or not _PACKAGE.match(name):
            raise ModuleError(f"{NAME}: {name!r} is not a Debian package name")
    return list(dict.fromkeys(names))


def facts_needed(args: dict) -> FactsRequest:
    return FactsRequest(packages=set(_names(args)))


def install_command(names: list[str]) -> str:
    """One apt-get for all; on failure refresh the lists once (a fresh image may have none), then give up
    with a message that says what is missing and the likely cause."""
    listed = " ".join(q(n) for n in names)
    install = f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {listed}"
    message = q(
        f"lvsdeploy: package(s) {' '.join(names)} not installed and could not be installed"
        " (no package mirror reachable?)"
    )
    return f"if ! {{ {install} || {{ apt-get update && {install}; }}; }}; then echo {message} >&2; exit 1; fi"


def plan(args: dict, facts) -> list[Change]:
    missing = [n for n in _names(args) if facts.packages.get(n) is None]
    if not missing:
        return []
    return [
        Change(
            resource=f"package {' '.join(missing)}",
            diff=tuple(f"+ {n} installed" for n in missing),
            commands=(install_command(missing),),
        )
    ]
