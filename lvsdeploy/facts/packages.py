"""Debian packages: installed version, or None when not installed (never installed, removed, or unknown)."""

from __future__ import annotations

import shlex


def packages_snippet(names) -> str:
    if not names:
        return ""
    quoted = " ".join(shlex.quote(n) for n in sorted(names))
    # The `@want` lines let the parser answer None for names dpkg-query never mentions. dpkg-query exits 1
    # and complains on stderr for a name it has never seen: that is the "absent" answer, not an error.
    return (
        f"printf '@want %s\\n' {quoted}\n"
        f"dpkg-query -W -f='${{Package}} ${{db:Status-Abbrev}} ${{Version}}\\n' {quoted} 2>/dev/null || true"
    )


def parse_packages(text: str) -> dict[str, str | None]:
    """`ipvsadm ii  1:1.31-1+b1`: the second status letter is the package state; 'i' is installed.

    A removed package whose config files remain ("rc") still has a version, but is not installed.
    """
    packages: dict[str, str | None] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        if parts[0] == "@want":
            packages.setdefault(parts[1], None)
            continue
        name, status = parts[0], parts[1]
        installed = len(status) >= 2 and status[1] == "i"
        version = parts[2] if installed and len(parts) > 2 else None
        # Multi-arch packages may print one line per architecture: any installed one counts.
        packages[name] = packages.get(name) or version
    return packages
