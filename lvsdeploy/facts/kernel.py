"""Host identity, kernel modules (loaded and built in) and sysctls.

Everything here is read from /proc and /lib/modules: no tool is needed and nothing is loaded. In particular
the snippet never runs `modprobe` or `sysctl`, which could load a module as a side effect of a lookup.
"""

from __future__ import annotations

import base64
import re
import shlex

HOST_SNIPPET = "cat /proc/sys/kernel/hostname /proc/sys/kernel/osrelease"

MODULES_SNIPPET = "cat /proc/modules 2>/dev/null"

# A module compiled into the kernel never shows in /proc/modules, yet `modprobe` succeeds for it:
# without this list a built-in ip_vs would be "missing" forever.
BUILTIN_SNIPPET = 'cat "/lib/modules/$(cat /proc/sys/kernel/osrelease)/modules.builtin" 2>/dev/null'

# What sysctl(8) accepts as a key; '/' appears when a component itself holds a dot (VLAN "eth0.100").
_SYSCTL_KEY = re.compile(r"^[A-Za-z0-9_-]+([./][A-Za-z0-9_:@+-]+)*$")


def valid_sysctl_key(key: str) -> bool:
    return bool(_SYSCTL_KEY.match(key)) and ".." not in key


def sysctl_path(key: str) -> str:
    """/proc/sys path of a sysctl key, with sysctl(8)'s rule: if the key uses '/', '.' and '/' swap roles."""
    if "/" in key:
        key = key.translate(str.maketrans("./", "/."))
    else:
        key = key.replace(".", "/")
    return "/proc/sys/" + key


def sysctl_snippet(keys) -> str:
    """One line per key: `ok KEY BASE64` (value read), `unreadable KEY` (write-only), or `absent KEY`."""
    lines = []
    for key in sorted(keys):
        if not valid_sysctl_key(key):
            raise ValueError(f"not a sysctl key: {key!r}")
        k, p = shlex.quote(key), shlex.quote(sysctl_path(key))
        lines.append(
            f"if [ -e {p} ]; then if v=$(base64 -w0 2>/dev/null < {p}); then printf 'ok %s %s\\n' {k} \"$v\"; "
            f"else printf 'unreadable %s\\n' {k}; fi; else printf 'absent %s\\n' {k}; fi"
        )
    return "\n".join(lines)


def parse_host(text: str) -> tuple[str, str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines += ["", ""]
    return lines[0], lines[1]


def normalise_module(name: str) -> str:
    return name.replace("-", "_")


def parse_modules(text: str) -> set[str]:
    """/proc/modules: `ip_vs_rr 16384 1 - Live 0x0000000000000000`, name first."""
    return {normalise_module(line.split()[0]) for line in text.splitlines() if line.strip()}


def parse_builtin(text: str) -> set[str]:
    """modules.builtin: `kernel/net/ipv4/tcp_cubic.ko`, one path per line."""
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line:
            name = line.rsplit("/", 1)[-1]
            names.add(normalise_module(name[:-3] if name.endswith(".ko") else name))
    return names


def parse_sysctls(text: str) -> dict[str, str | None]:
    """Values keep their text without the trailing newline; a write-only key reads as ""."""
    values: dict[str, str | None] = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) < 2:
            continue
        status, key = parts[0], parts[1]
        if status == "ok":
            raw = base64.b64decode(parts[2] if len(parts) > 2 else "")
            values[key] = raw.decode("utf-8", "replace").rstrip("\n")
        elif status == "unreadable":
            values[key] = ""
        elif status == "absent":
            values[key] = None
    return values
