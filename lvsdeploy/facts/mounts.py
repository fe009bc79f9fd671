"""Live mounts from /proc/self/mounts (what the kernel has, not what /etc/fstab wishes)."""

from __future__ import annotations

import re

from lvsdeploy.facts import Mount
from lvsdeploy.facts.kernel import print_file

MOUNTS_SNIPPET = print_file("/proc/self/mounts")

_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    """The kernel writes space, tab, newline and backslash in paths as \\040, \\011, \\012, \\134."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            mounts.append(Mount(src=unescape(parts[0]), path=unescape(parts[1]), fstype=parts[2], opts=parts[3]))
    return mounts
