"""render.py: the plan as a review (resource names, -/+ lines, unified diffs, handlers), the summary, the recap."""

import time
from pathlib import Path

import pytest
from rich.console import Console

from lvsdeploy import render
from lvsdeploy.engine import HostRun
from lvsdeploy.inventory import load_cluster
from lvsdeploy.modules.base import Change
from lvsdeploy.modules.file import content_diff
from lvsdeploy.plan import HostPlan, PlannedChange

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hosts():
    return load_cluster(REPO / "inventories" / "examples" / "dr.yml").hosts


def console() -> Console:
    return Console(record=True, width=200, color_system=None)


def sysctl_change() -> PlannedChange:
    return PlannedChange("realserver: real-server sysctls (ARP, rp_filter) (net.ipv4.conf.all.arp_ignore)",
                         Change("sysctl net.ipv4.conf.all.arp_ignore", ("- 0", "+ 1"),
                                ("sysctl -q -w net.ipv4.conf.all.arp_ignore=1",)))


def file_change() -> PlannedChange:
    path = "/etc/sysctl.d/90-lvsdeploy.conf"
    diff = content_diff(path, b"# Managed by lvsdeploy\nnet.ipv4.conf.all.arp_ignore = 0\n",
                        b"# Managed by lvsdeploy\nnet.ipv4.conf.all.arp_ignore = 1\n")
    return PlannedChange("boot: sysctls at boot", Change(f"file {path}", tuple(diff), ("true",)))


def run(host, status="pending", changes=(), handlers=(), error=None, seconds=0.0) -> HostRun:
    plan = HostPlan(host.name, list(changes), list(handlers))
    return HostRun(host, plan=plan, status=status, error=error, seconds=seconds)


def test_plan_shows_resources_and_minus_plus_lines(hosts):
    out = console()
    runs = [[], [run(hosts["rs1"], changes=[sysctl_change(), file_change()],
                     handlers=[("reload systemd", "systemctl daemon-reload")])], []]
    render.review(out, runs)
    text = out.export_text()
    lines = text.splitlines()
    assert lines[0] == "rs1: 2 changes"
    assert ("  ~ sysctl net.ipv4.conf.all.arp_ignore  "
            "realserver: real-server sysctls (ARP, rp_filter) (net.ipv4.conf.all.arp_ignore)") in lines
    assert "      - 0" in lines and "      + 1" in lines
    assert "  ~ file /etc/sysctl.d/90-lvsdeploy.conf  boot: sysctls at boot" in lines
    assert "      --- /etc/sysctl.d/90-lvsdeploy.conf" in lines
    assert "      +++ /etc/sysctl.d/90-lvsdeploy.conf" in lines
    assert "      -net.ipv4.conf.all.arp_ignore = 0" in lines
    assert "      +net.ipv4.conf.all.arp_ignore = 1" in lines
    assert "       # Managed by lvsdeploy" in lines   # context line, unchanged
    assert lines[-1] == "  ! handler: reload systemd"
    # The sysctl change comes before the file change, as planned.
    assert text.index("~ sysctl") < text.index("~ file")


def test_plan_lines_with_markup_characters_are_shown_verbatim(hosts):
    out = console()
    diff = ("+ [bold]not markup[/bold]", "- ends with a backslash \\")
    runs = [[run(hosts["storage1"], changes=[PlannedChange("demo: [x]", Change("file /etc/[x]", diff, ()))])]]
    render.review(out, runs)
    text = out.export_text()
    assert "~ file /etc/[x]  demo: [x]" in text
    assert "+ [bold]not markup[/bold]" in text
    assert "- ends with a backslash \\" in text


def test_plan_for_a_host_without_changes_and_a_failed_host(hosts):
    out = console()
    runs = [[run(hosts["storage1"])],
            [run(hosts["rs1"], status="failed", error="rs1: cannot reach 172.16.0.11:22: timed out")], []]
    render.review(out, runs, verbose=True)
    lines = out.export_text().splitlines()
    assert lines[0] == "storage1: no changes  (0 round trips)"
    assert lines[1].startswith("rs1: ") and lines[1].endswith("rs1: cannot reach 172.16.0.11:22: timed out")
    assert len(lines) == 2


def test_host_name_is_not_doubled_in_errors(hosts, monkeypatch):
    from lvsdeploy import engine
    from lvsdeploy.executor import RemoteError

    def unreachable(host, connect_timeout=None):  # the message executor.connect gives
        raise RemoteError(f"{host.name}: cannot reach {host.connection.host}:22: timed out")
    monkeypatch.setattr(engine, "connect", unreachable)
    cluster = load_cluster(REPO / "inventories" / "examples" / "dr.yml")
    runs = engine.plan_all(cluster, limit={"rs1"})
    out = console()
    render.review(out, runs)
    render.recap(out, runs)
    text = out.export_text()
    assert "cannot reach 172.16.0.11:22" in text
    assert "rs1: rs1:" not in text


def test_plan_notes_are_shown_with_and_without_changes(hosts):
    # What plan says but does not change (a foreign IPVS service) is shown under the host, after its changes.
    note = "ipvs TCP 10.20.0.10:8443: not managed by lvsdeploy, left alone"
    quiet, busy = run(hosts["director1"]), run(hosts["rs1"], changes=[sysctl_change()],
                                                handlers=[("reload systemd", "systemctl daemon-reload")])
    quiet.plan.notes, busy.plan.notes = [note], ["[bold]not markup[/bold]"]
    out = console()
    render.review(out, [[], [busy], [quiet]])
    lines = out.export_text().splitlines()
    assert lines[0] == "rs1: 1 change"
    assert lines.index("  ! handler: reload systemd") + 1 == lines.index("  · [bold]not markup[/bold]")
    assert lines[-2:] == ["director1: no changes", f"  · {note}"]


def test_one_change_is_singular(hosts):
    out = console()
    render.review(out, [[run(hosts["rs1"], changes=[sysctl_change()])]])
    assert out.export_text().splitlines()[0] == "rs1: 1 change"


def test_summary_wording(hosts):
    two = run(hosts["rs1"], changes=[sysctl_change(), file_change()])
    one = run(hosts["rs2"], changes=[sysctl_change()])
    none = run(hosts["storage1"])
    failed = run(hosts["director1"], status="failed", error="x")
    assert render.summary([[none], [two, one], []]) == "Plan: 3 changes on 2 of 3 hosts"
    assert render.summary([[none], [one], []]) == "Plan: 1 change on 1 of 2 hosts"
    assert render.summary([[none], [], []]) == "Plan: 0 changes on 0 of 1 hosts"
    assert render.summary([[none], [two], [failed]]) == "Plan: 2 changes on 1 of 3 hosts; 1 host failed"
    failed_rs = run(hosts["rs2"], status="failed", error="y")
    assert render.summary([[], [failed_rs], [failed]]) == "Plan: 0 changes on 0 of 2 hosts; 2 hosts failed"


def test_recap_table_rows(hosts):
    out = console()
    runs = [
        [run(hosts["storage1"], status="ok", seconds=0.4)],
        [run(hosts["rs1"], status="changed", changes=[sysctl_change(), file_change()], seconds=2.34),
         run(hosts["rs2"], status="failed", changes=[sysctl_change()], seconds=1.0,
             error="rs2: failed at change sysctl net.ipv4.conf.all.arp_ignore (demo):\nsysctl: permission denied")],
        [run(hosts["director1"], status="skipped", changes=[sysctl_change()], error="an earlier phase failed")],
    ]
    # wall-clock start and end of an apply, shown on this machine's clock
    runs[1][0].applied = (time.mktime((2024, 5, 1, 9, 5, 7, 0, 0, -1)) + 0.25,
                          time.mktime((2024, 5, 1, 9, 5, 9, 0, 0, -1)) + 0.5)   # to a tenth of a second
    render.recap(out, runs)
    text = out.export_text()
    rows = {line.split()[1]: line.split()[1:] for line in text.splitlines()
            if line.startswith("│") and line.split()[1] in hosts}
    # host, status, changes (only counted when applied), round trips, time, applied (- when it was not)
    assert rows["storage1"] == ["storage1", "│", "ok", "│", "0", "│", "0", "│", "0.4s", "│", "-", "│"]
    assert rows["rs1"] == ["rs1", "│", "changed", "│", "2", "│", "0", "│", "2.3s", "│", "09:05:07.2-09:05:09.5",
                           "│"]
    assert rows["rs2"] == ["rs2", "│", "failed", "│", "0", "│", "0", "│", "1.0s", "│", "-", "│"]
    assert rows["director1"] == ["director1", "│", "skipped", "│", "0", "│", "0", "│", "0.0s", "│", "-",
                                 "│"]
    assert "Recap" in text.splitlines()[0]
    header = next(line for line in text.splitlines() if "host" in line and "status" in line)
    assert [w for w in header.split() if w != "┃"] == ["host", "status", "changes", "round", "trips", "time",
                                                        "applied"]
    # Failed and skipped hosts say why, after the table.
    after = text.split("┘", 1)[1]
    assert "rs2: failed at change sysctl net.ipv4.conf.all.arp_ignore (demo):" in after
    assert "sysctl: permission denied" in after
    assert "director1: an earlier phase failed" in after


def test_plan_json_lists_exactly_what_the_review_shows(hosts):
    # `plan --format json` and the text review are drawn from the same runs: same hosts, resources and lines
    import json

    from lvsdeploy import render_json
    runs = [[run(hosts["rs1"], changes=[sysctl_change(), file_change()], handlers=[("reload x", "true")])],
            [run(hosts["director1"])]]
    runs[0][0].plan.notes.append("ipvs TCP 10.0.0.1:80: not managed by lvsdeploy, left alone")
    text = console()
    render.review(text, runs)
    doc = json.loads(json.dumps(render_json.plan_document(runs)))
    assert doc["schema"] == "lvsdeploy.plan/1"
    assert doc["summary"] == {"changes": 2, "hosts_changing": 1, "hosts": 2, "hosts_failed": 0}
    shown = text.export_text()
    for host in doc["hosts"]:
        for change in host["changes"]:
            assert f"~ {change['resource']}" in shown
            assert all(line in shown for line in change["diff"])
    assert doc["hosts"][0]["handlers"] == ["reload x"] and doc["hosts"][1]["changes"] == []
    assert doc["hosts"][0]["notes"] == ["ipvs TCP 10.0.0.1:80: not managed by lvsdeploy, left alone"]
    recap = render_json.apply_document(runs, doc)["recap"]
    assert [r["host"] for r in recap] == ["rs1", "director1"] and recap[0]["status"] == "pending"
