"""systemd units: load state, enablement and activity, for every unit a host's roles name, in one
`systemctl show` (one process, not three per unit: each costs tens of milliseconds on a slow host).

`show` says only "generated" for a unit made from a SysV init script (Debian's ipvsadm ships one); for those
alone `systemctl is-enabled` asks systemd-sysv-install, which knows the script's runlevel links.
"""

from __future__ import annotations

import shlex

from lvsdeploy.facts import UnitFact

# where systemd-sysv-generator writes the units it makes from /etc/init.d scripts
SYSV_UNITS = "/run/systemd/generator.late"


class UnitsError(ValueError):
    """`systemctl show` answered for some of the units asked about, not all: the answers cannot be matched."""


def units_snippet(names) -> str:
    if not names:
        return ""
    ordered = sorted(names)
    quoted = " ".join(shlex.quote(n) for n in ordered)
    lines = [
        # the @want lines give the order `show` answers in: one block per unit, blank lines between
        f"printf '@want\\t%s\\n' {quoted}",
        "if [ -d /run/systemd/system ]; then echo '@systemd'; fi",
        f"systemctl show -p LoadState -p UnitFileState -p ActiveState -- {quoted} 2>/dev/null",
        "echo",
    ]
    for name in ordered:
        u = shlex.quote(name)
        unit = name if "." in name else f"{name}.service"   # systemctl's own default suffix
        lines.append(f"if [ -e {shlex.quote(f'{SYSV_UNITS}/{unit}')} ]; then printf '@sysv\\t%s\\t%s\\n' {u} "
                     f"\"$(systemctl is-enabled -- {u} 2>/dev/null | head -n 1)\"; fi")
    return "\n".join(lines)


def _blocks(lines: list[str]) -> list[dict[str, str]]:
    blocks, current = [], {}
    for line in lines:
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key] = value
    if current:
        blocks.append(current)
    return blocks


def parse_units(text: str) -> dict[str, UnitFact]:
    """No answer on a host without systemd reads as units that do not exist; no answer from a running systemd
    (it stops at a name it rejects) or a partial answer is an error rather than a guess."""
    wanted, sysv, rest = [], {}, []
    booted = False
    for line in text.splitlines():
        parts = line.split("\t")
        if parts == ["@systemd"]:
            booted = True
        elif parts[0] == "@want" and len(parts) == 2:
            wanted.append(parts[1])
        elif parts[0] == "@sysv" and len(parts) == 3:
            sysv[parts[1]] = parts[2]
        else:
            rest.append(line)
    blocks = _blocks(rest)
    if wanted and booted and not blocks:
        raise UnitsError(f"systemctl show answered for none of {len(wanted)} units")
    if blocks and len(blocks) != len(wanted):
        raise UnitsError(f"systemctl show answered for {len(blocks)} of {len(wanted)} units")
    units = {}
    for index, name in enumerate(wanted):
        block = blocks[index] if blocks else {}
        load = block.get("LoadState") or "not-found"
        enabled = sysv.get(name, block.get("UnitFileState", ""))
        units[name] = UnitFact(load_state=load, enabled=enabled, active=block.get("ActiveState") or "inactive")
    return units
