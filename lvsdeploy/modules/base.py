"""The contract every module keeps, and the small helpers they share.

A module is pure: `plan(args, facts)` looks at desired state and facts and returns Changes; it never talks
to a host. Commands run in order inside ONE `set -e` script as root, so each must fail loudly or succeed,
and every value that reaches the shell goes through `shlex.quote`.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network


@dataclass(frozen=True)
class Change:
    resource: str  # "sysctl net.ipv4.ip_forward", "address 10.20.0.10/32 dev lo", "ipvs TCP 10.20.0.10:80"
    diff: tuple[str, ...]  # "- old" / "+ new" / "~ detail" lines, or unified-diff lines for files
    commands: tuple[str, ...]  # POSIX sh, run in order under `set -e` as root
    notify: tuple[str, ...] = ()  # handler names
    # Read-only shell tests that hold exactly when the host is still as the facts saw it (a file's hash, the
    # IPVS table's hash): checked under the host lock before any command runs; if one fails, nothing is changed.
    guards: tuple[str, ...] = ()


class ModuleError(Exception):
    """A task that cannot be planned; the message says what to set or fix."""


@dataclass
class FactsRequest:
    """What a task needs read from its host; merged over all tasks so ONE facts command reads it all."""

    sysctls: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    packages: set[str] = field(default_factory=set)
    units: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)   # block devices or LUN files to probe with blkid
    netfilter: bool = False                          # lvsdeploy's own chains (facts/netfilter.py)

    def merge(self, other: FactsRequest) -> None:
        self.sysctls |= other.sysctls
        self.files |= other.files
        self.packages |= other.packages
        self.units |= other.units
        self.devices |= other.devices
        self.netfilter |= other.netfilter


q = shlex.quote

# systemd reads unit files and /etc/fstab again only on `daemon-reload`, which takes seconds on a slow host.
# So a change that edits them marks systemd stale (SYSTEMD_STALE), and a start or a stop runs SYSTEMD_FRESH
# first (mount(8) reads /etc/fstab itself); a change of enablement only (`--no-reload enable`) leaves a reload
# owed (SYSTEMD_OWED): systemd needs none to start the unit, only to report the new state. After the last
# change the script settles what is left (SYSTEMD_SETTLE): one reload per host where there used to be one per
# edit and one per `systemctl enable`. HostPlan.script defines the functions (SYSTEMD_FUNCTIONS).
SYSTEMD_STALE = "lvs_systemd_stale=1"
SYSTEMD_OWED = "lvs_systemd_owed=1"
SYSTEMD_FRESH = "lvs_systemd_fresh"
SYSTEMD_SETTLE = "lvs_systemd_settle"
SYSTEMD_FUNCTIONS = (
    "lvs_systemd_stale= lvs_systemd_owed=",
    "lvs_systemd_reload() { if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; "
    "lvs_systemd_stale= lvs_systemd_owed=; }",
    f"{SYSTEMD_FRESH}() {{ if [ -n \"$lvs_systemd_stale\" ]; then lvs_systemd_reload; fi; }}",
    f"{SYSTEMD_SETTLE}() {{ if [ -n \"$lvs_systemd_stale$lvs_systemd_owed\" ]; then lvs_systemd_reload; fi; }}",
)
# Where systemd finds units: a file written under one of these (a unit or a drop-in) makes it stale, and so
# does /etc/fstab (its mount units).
SYSTEMD_UNIT_DIRS = ("/etc/systemd/system/", "/run/systemd/system/", "/lib/systemd/system/",
                     "/usr/lib/systemd/system/", "/usr/local/lib/systemd/system/")


def systemd_reads(path: str) -> bool:
    return path.startswith(SYSTEMD_UNIT_DIRS) or path == "/etc/fstab"


def file_guard(path: str, fact) -> tuple[str, ...]:
    """The guard for a change planned from `fact` (a FileFact): the file is still absent, or still has the
    content the plan saw (sha256). No guard when the content could not be read."""
    if fact is None or not fact.exists:
        return (f"[ ! -e {q(path)} ]",)
    if fact.content is None:
        return ()
    digest = hashlib.sha256(fact.content).hexdigest()
    return (f'[ "$(sha256sum < {q(path)} | cut -c1-64)" = {digest} ]',)


def check_args(module: str, args: dict, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    """Reject missing and unknown arguments up front: a typo ("adress") must not silently mean "absent"."""
    if not isinstance(args, dict):
        raise ModuleError(f"{module}: arguments must be a mapping, got {type(args).__name__}")
    missing = [k for k in required if args.get(k) is None]
    if missing:
        raise ModuleError(f"{module}: missing argument(s): {', '.join(missing)}")
    unknown = sorted(set(args) - set(required) - set(optional))
    if unknown:
        allowed = ", ".join(required + optional)
        raise ModuleError(f"{module}: unknown argument(s): {', '.join(unknown)} (allowed: {allowed})")


def choice(module: str, args: dict, key: str, allowed: tuple, default=None):
    value = args.get(key, default)
    if value not in allowed:
        shown = ", ".join("null" if a is None else str(a) for a in allowed)
        raise ModuleError(f"{module}: {key} must be one of {shown}, got {value!r}")
    return value


def as_str(module: str, key: str, value) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ModuleError(f"{module}: {key} must be a string, got {value!r}")
    value = str(value)
    if not value.strip():
        raise ModuleError(f"{module}: {key} must not be empty")
    return value


def as_ipv4(module: str, key: str, value) -> IPv4Address:
    try:
        return IPv4Address(str(value))
    except ValueError:
        raise ModuleError(f"{module}: {key} must be an IPv4 address, got {value!r}") from None


def as_interface(module: str, key: str, value) -> IPv4Interface:
    """An address with its prefix ("10.20.0.10/32"); a bare address is refused, the prefix matters."""
    text = str(value)
    if "/" not in text:
        raise ModuleError(f"{module}: {key} must be an address with a prefix length (e.g. {text}/32), got {value!r}")
    try:
        return IPv4Interface(text)
    except ValueError:
        raise ModuleError(f"{module}: {key} must be an IPv4 address/prefix, got {value!r}") from None


def as_network(module: str, key: str, value) -> IPv4Network:
    try:
        return IPv4Network(str(value), strict=True)
    except ValueError:
        raise ModuleError(f"{module}: {key} must be an IPv4 network (host bits zero), got {value!r}") from None


def as_bool(module: str, key: str, value) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ModuleError(f"{module}: {key} must be true or false, got {value!r}")
