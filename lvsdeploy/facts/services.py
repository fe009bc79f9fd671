"""systemd units: load state, enablement and activity.

`systemctl is-enabled` is used rather than the UnitFileState property because it also answers for SysV
init scripts (Debian's ipvsadm ships one) through systemd-sysv-install; `show` would only say "generated".
"""

from __future__ import annotations

import shlex

from lvsdeploy.facts import UnitFact


def units_snippet(names) -> str:
    lines = []
    for name in sorted(names):
        u = shlex.quote(name)
        lines.append(
            f"printf 'unit\\t%s\\t%s\\t%s\\t%s\\n' {u} "
            f"\"$(systemctl show -p LoadState --value -- {u} 2>/dev/null)\" "
            f"\"$(systemctl is-enabled -- {u} 2>/dev/null | head -n 1)\" "
            f"\"$(systemctl is-active -- {u} 2>/dev/null | head -n 1)\""
        )
    return "\n".join(lines)


def parse_units(text: str) -> dict[str, UnitFact]:
    units = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 5 or parts[0] != "unit":
            continue
        _, name, load, enabled, active = parts
        units[name] = UnitFact(load_state=load or "not-found", enabled=enabled, active=active or "inactive")
    return units
