"""The status report drawn three ways: a table for eyes, JSON for scripts, Prometheus text for monitoring.

The Prometheus names and labels are node_exporter's ipvs collector's (node_ipvs_backend_weight, ...; labels
local_address, local_port, local_mark, proto, remote_address, remote_port), so its dashboards and alerts work on
them; a `director` label tells the directors apart, and lvsdeploy_vip_held says which director holds a VIP.
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lvsdeploy.status.report import Director, as_json
from lvsdeploy.status.table import split_addrport


def text(console: Console, directors: list[Director]) -> None:
    for d in directors:
        head = f"[bold]{escape(d.name)}[/]"
        if d.state != "ok":
            why = {"unreachable": d.error or "no answer", "not-loaded": "ip_vs is not loaded: no IPVS table",
                   "no-ipvsadm": "ipvsadm is not installed"}.get(d.state, d.state)
            console.print(f"{head}: [red]{escape(why)}[/]", soft_wrap=True)
            continue
        vrrp = f"VRRP {escape(d.vrrp_state)}, " if d.vrrp_state else ""
        console.print(f"{head}: {vrrp}checker {escape(d.checker)}, {d.issues or 'no'} mismatch"
                      f"{'es' if d.issues != 1 else ''} with the inventory")
        table = Table(show_edge=False, pad_edge=False, box=None)
        for column in ("service", "real server", "weight (inventory)", "active", "inactive", "conn/s", "in B/s",
                       "out B/s", "note"):
            table.add_column(column, justify="right" if column in ("active", "inactive", "conn/s", "in B/s",
                                                                   "out B/s") else "left")
        for s in d.services:
            held = "" if s.vip_here is None else (" (VIP here)" if s.vip_here else " (VIP elsewhere)")
            name = f"{s.name or '-'} {s.label} {s.scheduler or ''} {s.flags}".strip() + held
            table.add_row(escape(name), "", "", "", "", str(s.rates.get("cps", "")), str(s.rates.get("in_bps", "")),
                          str(s.rates.get("out_bps", "")), _red("; ".join(s.issues)))
            for b in s.backends:
                weight = "-" if b.weight is None else str(b.weight)
                weight += f" ({b.inventory_weight})" if b.inventory_weight is not None else " (-)"
                table.add_row("", escape(f"{b.host or '?'} {b.address}"), weight, str(b.active), str(b.inactive),
                              str(b.rates.get("cps", "")), str(b.rates.get("in_bps", "")),
                              str(b.rates.get("out_bps", "")),
                              _red(b.issue) if b.issue else (f"drained since {b.drained_since}" if b.drained_since
                                                             else ""))
        console.print(table)


def _red(note: str) -> str:
    return f"[red]{escape(note)}[/]" if note else ""


def as_text_json(directors: list[Director]) -> str:
    return json.dumps(as_json(directors), indent=2, sort_keys=False)


_BACKEND = (("node_ipvs_backend_weight", "The current backend weight by local and remote address.", "weight"),
            ("node_ipvs_backend_connections_active", "The current active connections by local and remote address.",
             "active"),
            ("node_ipvs_backend_connections_inactive",
             "The current inactive connections by local and remote address.", "inactive"))
_TOTALS = (("node_ipvs_connections_total", "The total number of connections made.", "conns"),
           ("node_ipvs_incoming_packets_total", "The total number of incoming packets.", "in_packets"),
           ("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.", "out_packets"),
           ("node_ipvs_incoming_bytes_total", "The total amount of incoming data.", "in_bytes"),
           ("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.", "out_bytes"))


def _labels(pairs: dict[str, str]) -> str:
    def quoted(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return "{" + ",".join(f'{k}="{quoted(v)}"' for k, v in pairs.items()) + "}"


VRRP_STATES = ("MASTER", "BACKUP", "FAULT", "STOPPED", "unknown")


def prometheus(directors: list[Director]) -> str:
    """The text exposition format: HELP and TYPE once per metric, then one sample per director and series."""
    lines: list[str] = []
    live = [d for d in directors if d.state == "ok"]
    for metric, help_text, key in _TOTALS:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        lines += [f"{metric}{_labels({'director': d.name})} {d.totals[key]}" for d in live if key in d.totals]
    for metric, help_text, key in _BACKEND:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge"]
        for d in live:
            for s in d.services:
                protocol, address = s.label.split(" ", 1)
                if protocol == "FWM":
                    # as node_exporter has it from /proc/net/ip_vs: eight hex digits
                    local = {"local_address": "", "local_port": "0", "local_mark": f"{int(address):08X}"}
                else:
                    ip, port = split_addrport(address)
                    local = {"local_address": ip, "local_port": str(port), "local_mark": ""}
                for b in s.backends:
                    if b.weight is None:
                        continue   # not in the table: node_exporter would not see it either
                    ip, port = split_addrport(b.address)
                    labels = {"director": d.name, **local, "proto": protocol, "remote_address": ip,
                              "remote_port": str(port)}
                    lines.append(f"{metric}{_labels(labels)} {getattr(b, key)}")
    lines += ["# HELP lvsdeploy_vip_held 1 when the director holds the service's VIP now, else 0.",
              "# TYPE lvsdeploy_vip_held gauge"]
    for d in live:
        for s in d.services:
            if s.vip_here is not None:
                vip = split_addrport(s.label.split(" ", 1)[1])[0]
                lines.append(f"lvsdeploy_vip_held{_labels({'director': d.name, 'vip': vip, 'service': s.label})} "
                             f"{int(s.vip_here)}")
    lines += ["# HELP lvsdeploy_vrrp_state 1 for the VRRP state keepalived is in on the director (with failover), "
              "0 for the others.", "# TYPE lvsdeploy_vrrp_state gauge"]
    for d in live:
        if d.vrrp_state:
            for state in VRRP_STATES:
                lines.append(f"lvsdeploy_vrrp_state{_labels({'director': d.name, 'state': state})} "
                             f"{int(d.vrrp_state == state)}")
    lines += ["# HELP lvsdeploy_backend_check_up 1 when the real server passes its health check probed from the "
              "director now, else 0.", "# TYPE lvsdeploy_backend_check_up gauge"]
    for d in live:
        for s in d.services:
            for b in s.backends:
                if b.check is not None:
                    labels = {"director": d.name, "service": s.label, "backend": b.address, "host": b.host or ""}
                    lines.append(f"lvsdeploy_backend_check_up{_labels(labels)} {int(b.check == 'up')}")
    return "\n".join(lines) + "\n"
