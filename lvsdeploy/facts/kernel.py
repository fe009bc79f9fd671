"""Host identity, kernel modules (loaded and built in) and sysctls.

Everything here is read from /proc and /lib/modules: no tool is needed and nothing is loaded. In particular
the snippet never runs `modprobe` or `sysctl`, which could load a module as a side effect of a lookup.
"""

from __future__ import annotations

import re
import shlex


def print_file(path: str) -> str:
    """Shell that prints a text file with built-ins only: a `cat` is a process, tens of ms on a slow host."""
    return f"while IFS= read -r _l || [ -n \"$_l\" ]; do printf '%s\\n' \"$_l\"; done 2>/dev/null < {path}"


HOST_SNIPPET = print_file("/proc/sys/kernel/hostname") + "\n" + print_file("/proc/sys/kernel/osrelease")

MODULES_SNIPPET = print_file("/proc/modules")

# A module compiled into the kernel never shows in /proc/modules, yet `modprobe` succeeds for it:
# without this list a built-in ip_vs would be "missing" forever.
BUILTIN_SNIPPET = ("read -r _release < /proc/sys/kernel/osrelease\n"
                   + print_file('"/lib/modules/$_release/modules.builtin"'))

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
    """Per key `absent KEY`, `unreadable KEY` (write-only) or `ok KEY`, from shell tests; then ONE `grep` prints
    every readable key's value as `PATH:LINE` lines. Not the shell's `read`: dash reads one byte per call, and
    the kernel's integer sysctls answer only a read at offset 0 (a shell would see "32768" as "3")."""
    lines, readable = [], []
    for key in sorted(keys):
        if not valid_sysctl_key(key):
            raise ValueError(f"not a sysctl key: {key!r}")
        k, p = shlex.quote(key), shlex.quote(sysctl_path(key))
        lines.append(f"if [ ! -e {p} ]; then printf 'absent %s\\n' {k}; elif [ ! -r {p} ]; then "
                     f"printf 'unreadable %s\\n' {k}; else printf 'ok %s\\n' {k}; fi")
        readable.append(p)
    if readable:
        lines.append(f"grep -H '' -- {' '.join(readable)} 2>/dev/null")
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
    """Values keep their text without the trailing newline (lines joined by newlines); a write-only key, or one
    whose read fails, reads as ""."""
    values: dict[str, str | None] = {}
    printed: list[str] = []   # grep's "PATH:LINE" lines, in order
    for line in text.splitlines():
        if line.startswith("/"):
            printed.append(line)
            continue
        status, _, key = line.partition(" ")
        if status in ("ok", "unreadable") and key:
            values[key] = ""
        elif status == "absent" and key:
            values[key] = None
    by_path = {sysctl_path(key): key for key, value in values.items() if value is not None}
    longest_first = sorted(by_path, key=len, reverse=True)
    found: dict[str, list[str]] = {}
    for entry in printed:
        path = next((p for p in longest_first if entry.startswith(p + ":")), None)
        if path is not None:
            found.setdefault(by_path[path], []).append(entry[len(path) + 1:])
    values.update({key: "\n".join(value) for key, value in found.items()})
    return values
