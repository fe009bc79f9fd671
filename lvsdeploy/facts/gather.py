"""All fact readers of a host as ONE remote command, and the parser for its output.

`build_command(request)` returns a POSIX sh script; each reader prints behind a marker line
`@@lvsfacts NAME`, and a final `@@lvsfacts end` proves the output is complete. The script only reads: no
module is loaded, no file is written, and a missing tool yields an empty or "absent" answer, not a failure.
"""

from __future__ import annotations

from lvsdeploy.facts import (
    HostFacts, blockdev, files, iscsi, ipvs, kernel, mounts, netfilter, network, packages, services,
)

MARKER = "@@lvsfacts"

SECTIONS = (
    "host", "addr", "route", "modules", "builtin", "sysctl",
    "files", "packages", "units", "ipvs", "mounts", "devices", "iscsi_target", "iscsi_initiator", "snat",
    "ipvs_timeouts", "ipvs_thresholds", "fwmark",
)  # fmt: skip

# A PATH with the sbin directories: a non-root login shell on Debian lacks them, and ip, sysctl, ipvsadm
# and dpkg-query live there.
PREAMBLE = "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class FactsError(Exception):
    """The facts output cannot be read (truncated, or not produced by build_command)."""


def _snippets(request) -> dict[str, str]:
    return {
        "host": kernel.HOST_SNIPPET,
        "addr": network.ADDR_SNIPPET,
        "route": network.ROUTE_SNIPPET,
        "modules": kernel.MODULES_SNIPPET,
        "builtin": kernel.BUILTIN_SNIPPET,
        "sysctl": kernel.sysctl_snippet(request.sysctls),
        "files": files.files_snippet(request.files),
        "packages": packages.packages_snippet(request.packages),
        "units": services.units_snippet(request.units),
        "ipvs": ipvs.IPVS_SNIPPET,
        "mounts": mounts.MOUNTS_SNIPPET,
        "devices": blockdev.devices_snippet(request.devices),
        "iscsi_target": iscsi.TARGET_SNIPPET,
        "iscsi_initiator": iscsi.INITIATOR_SNIPPET,
        "snat": netfilter.snat_snippet(request.netfilter),
        "ipvs_timeouts": ipvs.TIMEOUTS_SNIPPET,
        "ipvs_thresholds": ipvs.THRESHOLDS_SNIPPET,
        "fwmark": netfilter.chain_snippet(netfilter.FWMARK, request.netfilter),
    }


def build_command(request) -> str:
    snippets = _snippets(request)
    parts = [PREAMBLE]
    for name in SECTIONS:
        parts.append(f"echo '{MARKER} {name}'")
        if snippets[name]:
            parts.append(snippets[name])
    parts.append(f"echo '{MARKER} end'")
    return "\n".join(parts) + "\n"


def split_sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(MARKER + " "):
            current = sections.setdefault(line[len(MARKER) + 1 :].strip(), [])
        elif current is not None:
            current.append(line)
    if "end" not in sections:
        raise FactsError("the facts output is incomplete (no end marker): the remote command was cut short")
    missing = [name for name in SECTIONS if name not in sections]
    if missing:
        raise FactsError(f"the facts output lacks section(s): {', '.join(missing)}")
    return {name: "\n".join(lines) for name, lines in sections.items()}


def parse(text: str) -> HostFacts:
    s = split_sections(text)
    hostname, release = kernel.parse_host(s["host"])
    table, ipvs_note = ipvs.parse_ipvs(s["ipvs"])
    return HostFacts(
        hostname=hostname,
        kernel_release=release,
        interfaces=network.parse_interfaces(s["addr"]),
        routes=network.parse_routes(s["route"]),
        modules_loaded=kernel.parse_modules(s["modules"]) | kernel.parse_builtin(s["builtin"]),
        sysctls=kernel.parse_sysctls(s["sysctl"]),
        files=files.parse_files(s["files"]),
        packages=packages.parse_packages(s["packages"]),
        units=services.parse_units(s["units"]),
        ipvs=ipvs.with_thresholds(table, s["ipvs_thresholds"]),
        mounts=mounts.parse_mounts(s["mounts"]),
        devices=blockdev.parse_devices(s["devices"]),
        iscsi_targets=iscsi.parse_targets(s["iscsi_target"]),
        iscsi_initiator=iscsi.parse_initiator(s["iscsi_initiator"]),
        snat=netfilter.parse_snat(s["snat"]),
        fwmark=netfilter.parse_chain(netfilter.FWMARK, s["fwmark"]),
        ipvs_timeouts=ipvs.parse_timeouts(s["ipvs_timeouts"]),
        notes=[ipvs_note] if ipvs_note else [],
    )
