"""ipvs: minimal ipvsadm edits against the live table, never a flush; only lvsdeploy's own services (the
ownership record) are touched; guards; the boot rules (ipvsadm -R lines).

Input is typed (facts.IpvsService, as desired.py builds it from the validated model); validation of ports,
netmasks, schedulers and duplicates lives in validate.py and is tested in test_validate.py.
"""

import base64
import hashlib
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from lvsdeploy.facts import FileFact, HostFacts, IpvsDest, IpvsService, IpvsTable
from lvsdeploy.facts.gather import parse, split_sections
from lvsdeploy.facts.ipvs import parse_rules, rows_digest, rows_guard, rows_of, threshold_rows, thresholds_guard
from lvsdeploy.lvs import METHOD_SWITCH, MODES, PROTOCOL_SWITCH
from lvsdeploy.modules import ipvs
from lvsdeploy.modules.base import ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def director_table() -> list[IpvsService]:
    """Exactly what the director fixture's `ipvsadm -Sn` holds, as the typed services desired.py builds.

    A function, not a constant: IpvsService is mutable (its destinations list), so each test gets its own."""
    return [
        IpvsService("TCP", "10.20.0.10", 80, None, "rr",
                    destinations=[IpvsDest("10.20.0.11", 80, 1, "route"), IpvsDest("10.20.0.12", 80, 1, "route")]),
        IpvsService("TCP", "10.20.0.10", 443, None, "wlc", 300, "255.255.255.0",
                    destinations=[IpvsDest("10.20.0.11", 443, 2, "route")]),
        IpvsService("UDP", "10.20.0.10", 53, None, "rr", destinations=[IpvsDest("10.30.0.11", 5353, 1, "masq")]),
        IpvsService("FWM", None, None, 7, "sh", 60, destinations=[IpvsDest("10.20.0.11", 0, 1, "tunnel")]),
        IpvsService("SCTP", "10.20.0.10", 3868, None, "rr"),
    ]  # fmt: skip


def director():
    """The director fixture as read: five services in the kernel, and no ownership record."""
    return parse((FIXTURES / "director.facts").read_text())


# ---- the ownership record --------------------------------------------------------------------------------

RECORD = "/etc/lvsdeploy/ipvs.managed"   # as roles/director/tasks/main.yml passes it
RULES = "/etc/lvsdeploy/ipvs.rules"      # the old boot rules (adopt_from)
HEADER = b"# Managed by lvsdeploy"
NOT_LOADED_GUARD = '[ ! -e /proc/net/ip_vs ] || [ -z "$(ipvsadm -Sn 2>/dev/null)" ]'
FIXTURE_LABELS = ["TCP 10.20.0.10:80", "TCP 10.20.0.10:443", "UDP 10.20.0.10:53", "FWM 7", "SCTP 10.20.0.10:3868"]


def record_content(labels) -> bytes:
    """The record as the module writes it: its header, then one label per line, sorted."""
    return ipvs.RECORD_HEADER.encode() + "".join(f"{label}\n" for label in sorted(labels)).encode()


def owning(facts: HostFacts, labels) -> HostFacts:
    """`facts` with an ownership record that says lvsdeploy created the services `labels`."""
    facts.files[RECORD] = FileFact(True, record_content(labels), "0644", "root", "root", "file")
    return facts


def ours() -> HostFacts:
    """The director fixture where lvsdeploy made every service in the table (the record lists them all)."""
    return owning(director(), FIXTURE_LABELS)


def fresh() -> HostFacts:
    """A director without ip_vs loaded and without a record: nothing to own, nothing in the way."""
    return HostFacts(ipvs=None, files={RECORD: FileFact(False)})


def args(services, **more) -> dict:
    return {"services": services, "record": RECORD, **more}


def service_changes(changes) -> list:
    return [c for c in changes if c.resource.startswith("ipvs ")]


def written(change) -> bytes:
    """What a file change's commands write (write_commands: base64 to a temp file, then mv onto the path)."""
    (data,) = [m.group(1) for c in change.commands
               if (m := re.fullmatch(r"printf '%s' '([A-Za-z0-9+/=]*)' \| base64 -d > \"\$lvs_tmp\"", c))]
    assert shlex.split(change.commands[-1]) == ["mv", "-f", "--", "$lvs_tmp", change.resource.removeprefix("file ")]
    return base64.b64decode(data)


def labels_of(content: bytes) -> list[str]:
    lines = content.decode().splitlines()
    assert lines[0].startswith(HEADER.decode()), lines[0]
    return lines[1:]


# ---- a fake ipvsadm: applies the planned edits to a table, refusing what the real one refuses ---------------


def apply_ipvsadm(table: IpvsTable | None, commands) -> IpvsTable:
    """The table after running `commands`, kept as `ipvsadm -Sn` lines and read back with the facts parser.

    Like ipvsadm, adding what exists (-A/-a) or editing/deleting what does not (-E/-e/-D/-d) is an error, so a
    plan that edits the wrong thing fails here rather than converging by accident."""
    lines = ipvs.rules_lines(table.services if table else [])

    def service_line(switch):
        return next((i for i, line in enumerate(lines) if line.startswith(f"-A {switch} ")), None)

    def dest_line(switch, real):
        return next((i for i, line in enumerate(lines) if line.startswith(f"-a {switch} -r {real} ")), None)

    for command in commands:
        tokens = command.split()
        assert tokens[0] == "ipvsadm", command
        op, switch, rest = tokens[1], " ".join(tokens[2:4]), tokens[4:]
        if op in ("-A", "-E"):
            found = service_line(switch)
            assert (found is None) == (op == "-A"), f"ipvsadm would refuse: {command}"
            line = f"-A {switch} {' '.join(rest)}"
            if found is None:
                lines.append(line)
            else:
                lines[found] = line
        elif op == "-D":
            assert service_line(switch) is not None, f"ipvsadm would refuse: {command}"
            lines = [line for line in lines if not line.startswith((f"-A {switch} ", f"-a {switch} "))]
        elif op in ("-a", "-e", "-d"):
            assert rest[0] == "-r", command
            assert service_line(switch) is not None, f"no such service: {command}"
            found = dest_line(switch, rest[1])
            assert (found is None) == (op == "-a"), f"ipvsadm would refuse: {command}"
            if op == "-a":
                lines.append(f"-a {switch} {' '.join(rest)}")
            elif op == "-e":
                lines[found] = f"-a {switch} {' '.join(rest)}"
            else:
                del lines[found]
        else:
            raise AssertionError(f"unexpected ipvsadm operation: {command}")
    body = "\n".join(lines)
    table = parse_rules(body)
    table.text = body   # as the facts reader would see it
    return table


def apply(changes, facts) -> None:
    """Run the planned changes in order: file writes land in facts.files, ipvsadm edits in the fake table."""
    for change in changes:
        if change.resource.startswith("file "):
            path = change.resource.removeprefix("file ")
            facts.files[path] = FileFact(True, written(change), "0644", "root", "root", "file")
        else:
            facts.ipvs = apply_ipvsadm(facts.ipvs, change.commands)


def converge(args, facts) -> list:
    """Plan, apply (record writes and the fake ipvsadm), and return the plan made against the result."""
    apply(ipvs.plan(args, facts), facts)
    return ipvs.plan(args, facts)


# ---- plan --------------------------------------------------------------------------------------------------


def test_fixture_table_reads_as_the_typed_services():
    # The desired and the current table are the same kind of object: equal means nothing to do.
    assert director().ipvs.services == director_table()
    assert sorted(s.label for s in director_table()) == sorted(FIXTURE_LABELS)


def test_matching_table_gives_no_change():
    assert ipvs.plan(args(director_table()), ours()) == []
    assert ipvs.notes(args(director_table()), ours()) == []


def test_empty_table_when_ip_vs_is_not_loaded():
    services = [IpvsService("TCP", "10.20.0.10", 80, None, "rr", 300,
                            destinations=[IpvsDest("10.20.0.11", 80, 1, "route"),
                                          IpvsDest("10.20.0.12", 80, 3, "route")])]  # fmt: skip
    record, change = ipvs.plan(args(services), fresh())
    # The record names the service before it is added: a failure after -A never leaves a service nobody owns.
    assert record.resource == f"file {RECORD}"
    assert record.diff == ("+ TCP 10.20.0.10:80",)
    assert written(record) == record_content(["TCP 10.20.0.10:80"])
    assert change.resource == "ipvs TCP 10.20.0.10:80"
    assert change.diff == (
        "+ TCP 10.20.0.10:80 rr persistent 300",
        "  + -> 10.20.0.11:80 route weight 1",
        "  + -> 10.20.0.12:80 route weight 3",
    )
    assert change.commands == (
        "ipvsadm -A -t 10.20.0.10:80 -s rr -p 300",
        "ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1",
        "ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.12:80 -g -w 3",
    )
    facts = fresh()
    assert converge(args(services), facts) == []
    assert facts.ipvs.services == services
    assert labels_of(facts.files[RECORD].content) == ["TCP 10.20.0.10:80"]


def minimal_edits_wanted() -> list[IpvsService]:
    return [
        IpvsService("TCP", "10.20.0.10", 80, None, "rr",
                    destinations=[IpvsDest("10.20.0.12", 80, 3, "route"), IpvsDest("10.20.0.13", 80, 1, "route")]),
        IpvsService("TCP", "10.20.0.10", 443, None, "rr", 300, "255.255.255.0",
                    destinations=[IpvsDest("10.20.0.11", 443, 2, "tunnel")]),
    ]  # fmt: skip


def test_minimal_edits_and_purge_without_flush():
    changes = {c.resource: c for c in service_changes(ipvs.plan(args(minimal_edits_wanted()), ours()))}
    http = changes["ipvs TCP 10.20.0.10:80"]
    assert http.diff == (
        "  TCP 10.20.0.10:80 rr",
        "  ~ -> 10.20.0.12:80 weight 1 -> 3",
        "  + -> 10.20.0.13:80 route weight 1",
        "  - -> 10.20.0.11:80 route weight 1",
    )
    # New destinations first, removals last: the service never runs out of servers mid-apply.
    assert http.commands == (
        "ipvsadm -e -t 10.20.0.10:80 -r 10.20.0.12:80 -g -w 3",
        "ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.13:80 -g -w 1",
        "ipvsadm -d -t 10.20.0.10:80 -r 10.20.0.11:80",
    )
    https = changes["ipvs TCP 10.20.0.10:443"]
    mask = "persistent 300 mask 255.255.255.0"
    assert https.diff[0] == f"~ TCP 10.20.0.10:443 wlc {mask} -> rr {mask}"
    assert https.diff[1] == "  ~ -> 10.20.0.11:443 route -> tunnel"
    # A scheduler change is -E and a method change -e: the service is never deleted and re-added.
    assert https.commands == (
        "ipvsadm -E -t 10.20.0.10:443 -s rr -p 300 -M 255.255.255.0",
        "ipvsadm -e -t 10.20.0.10:443 -r 10.20.0.11:443 -i -w 2",
    )
    # purge is the default: services not wanted (and ours) are deleted one by one, each with its own -D.
    assert changes["ipvs UDP 10.20.0.10:53"].commands == ("ipvsadm -D -u 10.20.0.10:53",)
    assert changes["ipvs FWM 7"].commands == ("ipvsadm -D -f 7",)
    assert changes["ipvs FWM 7"].diff == ("- FWM 7 sh persistent 60", "  - -> 10.20.0.11:0 tunnel weight 1")
    assert changes["ipvs SCTP 10.20.0.10:3868"].commands == ("ipvsadm -D --sctp-service 10.20.0.10:3868",)
    assert len(changes) == 5
    all_commands = [c for change in changes.values() for c in change.commands]
    assert all(c.startswith("ipvsadm ") for c in all_commands)
    assert not any(c.split()[1] == "-C" for c in all_commands)
    # a wanted service is never deleted, whatever changed in it
    assert not any(c.startswith("ipvsadm -D -t 10.20.0.10:") for c in all_commands)


def test_purge_false_leaves_other_services():
    assert service_changes(ipvs.plan(args(director_table()[:1], purge=False), ours())) == []
    # With purge (the default) the four other services go, then the record forgets them.
    purged = ipvs.plan(args(director_table()[:1]), ours())
    assert [c.commands[0].split()[1] for c in service_changes(purged)] == ["-D"] * 4
    assert [c.resource for c in purged] == ["ipvs SCTP 10.20.0.10:3868", "ipvs TCP 10.20.0.10:443",
                                            "ipvs UDP 10.20.0.10:53", "ipvs FWM 7", f"file {RECORD}"]
    assert labels_of(written(purged[-1])) == ["TCP 10.20.0.10:80"]


def test_purge_false_still_edits_the_listed_services():
    wanted = director_table()[:1]
    wanted[0].destinations.append(IpvsDest("10.20.0.13", 80, 1, "route"))
    (change,) = service_changes(ipvs.plan(args(wanted, purge="no"), ours()))
    assert change.commands == ("ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.13:80 -g -w 1",)


def test_purge_false_keeps_owning_the_services_it_leaves():
    # Left in place is not handed over: a later run that wants such a service again must be able to edit it,
    # and a later run with purge must be able to remove it.
    facts = ours()
    apply(ipvs.plan(args(director_table()[:1], purge=False), facts), facts)
    assert ipvs.notes(args(director_table()[:1]), facts) == []
    assert ipvs.plan(args(director_table()), facts) == []


def test_weight_zero_is_an_edit_not_a_removal():
    # Quiescing a real server (weight 0) keeps its connections: -e, never -d.
    wanted = director_table()
    wanted[0].destinations[0] = IpvsDest("10.20.0.11", 80, 0, "route")
    (change,) = ipvs.plan(args(wanted), ours())
    assert change.diff == ("  TCP 10.20.0.10:80 rr", "  ~ -> 10.20.0.11:80 weight 1 -> 0")
    assert change.commands == ("ipvsadm -e -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 0",)


@pytest.mark.parametrize("wanted, purge", [
    (minimal_edits_wanted(), True),
    (director_table()[1:3] + [IpvsService("TCP", "10.20.0.10", 8080, None, "wlc",
                                          destinations=[IpvsDest("10.20.0.14", 8080, 1, "route")])], True),
    ([], True),
    (minimal_edits_wanted(), False),
])  # fmt: skip
def test_applying_the_plan_converges(wanted, purge):
    # Idempotence: after the planned edits ran (record writes included), planning against the table the kernel
    # then holds and the record then on disk is empty.
    facts = ours()
    a = args(wanted, purge=purge)
    assert ipvs.plan(a, facts) != []
    assert converge(a, facts) == []
    by_key = {s.key: s for s in facts.ipvs.services}
    for service in wanted:
        assert by_key.pop(service.key) == service
    assert (by_key == {}) == purge  # without purge the other services stay
    if purge:
        assert labels_of(facts.files[RECORD].content) == sorted(s.label for s in wanted)
    else:
        assert set(labels_of(facts.files[RECORD].content)) >= {s.label for s in wanted}


def test_boot_rules_read_back_are_converged():
    # What `ipvsadm -R` restores at boot is the wanted table: planning against it changes nothing.
    new = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc", destinations=[IpvsDest("10.20.0.14", 8080, 1, "route")])
    a = args(director_table()[1:3] + [new])
    assert ipvs.plan(a, ours()) != []
    restored = owning(HostFacts(ipvs=parse_rules("\n".join(ipvs.rules_lines(a["services"])))),
                      [s.label for s in a["services"]])
    assert ipvs.plan(a, restored) == []


# ---- whose services: the record, foreign services, collisions, adoption -------------------------------------


def test_foreign_services_are_left_alone_and_noted():
    # lvsdeploy made the two TCP services; UDP 53, FWM 7 and SCTP belong to someone else (kube-proxy, by hand).
    facts = owning(director(), ["TCP 10.20.0.10:80", "TCP 10.20.0.10:443"])
    a = args(director_table()[:2])   # purge is the default, and still nothing foreign goes
    assert ipvs.plan(a, facts) == []
    assert ipvs.notes(a, facts) == [
        "ipvs SCTP 10.20.0.10:3868: not managed by lvsdeploy, left alone",
        "ipvs UDP 10.20.0.10:53: not managed by lvsdeploy, left alone",
        "ipvs FWM 7: not managed by lvsdeploy, left alone",
    ]
    # Wanting none of ours removes ours only.
    changes = ipvs.plan(args([]), facts)
    assert [c.resource for c in changes] == ["ipvs TCP 10.20.0.10:80", "ipvs TCP 10.20.0.10:443", f"file {RECORD}"]
    assert labels_of(written(changes[-1])) == []
    assert ipvs.notes(args([]), facts) == ipvs.notes(a, facts)


def test_foreign_services_are_kept_through_an_apply():
    facts = owning(director(), ["TCP 10.20.0.10:80", "TCP 10.20.0.10:443"])
    new = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc", destinations=[IpvsDest("10.20.0.14", 8080, 1, "route")])
    a = args([new])
    assert converge(a, facts) == []
    assert sorted(s.label for s in facts.ipvs.services) == sorted(
        ["TCP 10.20.0.10:8080", "UDP 10.20.0.10:53", "FWM 7", "SCTP 10.20.0.10:3868"])
    assert {s.key: s for s in facts.ipvs.services}[("UDP", "10.20.0.10", 53)] == director_table()[2]
    assert labels_of(facts.files[RECORD].content) == ["TCP 10.20.0.10:8080"]
    assert len(ipvs.notes(a, facts)) == 3


def test_a_wanted_service_that_someone_else_made_is_an_error_naming_it():
    # No record and no boot rules: every service in the table is foreign, and lvsdeploy will not take one over.
    with pytest.raises(ModuleError, match=r"^ipvs: TCP 10\.20\.0\.10:80 already exists on the host and lvsdeploy "
                                          r"did not create it") as caught:
        ipvs.plan(args(director_table()[:1]), director())
    assert RECORD in str(caught.value)
    # Only the colliding ones are named: 443 is ours here, 8080 is not in the table.
    new = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc")
    facts = owning(director(), ["TCP 10.20.0.10:443"])
    with pytest.raises(ModuleError) as caught:
        ipvs.plan(args([director_table()[0], director_table()[1], director_table()[2], new]), facts)
    message = str(caught.value)
    assert "TCP 10.20.0.10:80, UDP 10.20.0.10:53 already exists" in message
    assert "443" not in message and "8080" not in message
    # A service not in the table is added even when it is in no record.
    assert [c.resource for c in ipvs.plan(args([new]), director())] == [f"file {RECORD}", "ipvs TCP 10.20.0.10:8080"]


def test_record_is_written_before_additions_and_rewritten_after_removals():
    new = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc", destinations=[IpvsDest("10.20.0.14", 8080, 1, "route")])
    wanted = minimal_edits_wanted() + [new]
    changes = ipvs.plan(args(wanted), ours())
    assert [c.resource for c in changes] == [
        f"file {RECORD}",   # first: owns the service about to be added, still owns the ones about to go
        "ipvs TCP 10.20.0.10:80", "ipvs TCP 10.20.0.10:443", "ipvs TCP 10.20.0.10:8080",
        "ipvs SCTP 10.20.0.10:3868", "ipvs UDP 10.20.0.10:53", "ipvs FWM 7",
        f"file {RECORD}",   # last: the removed services leave the record only once they are gone
    ]
    first, last = changes[0], changes[-1]
    assert first.diff == ("+ TCP 10.20.0.10:8080",)
    assert written(first) == record_content(FIXTURE_LABELS + ["TCP 10.20.0.10:8080"])
    assert written(first) == (ipvs.RECORD_HEADER + "FWM 7\nSCTP 10.20.0.10:3868\nTCP 10.20.0.10:443\n"
                              "TCP 10.20.0.10:80\nTCP 10.20.0.10:8080\nUDP 10.20.0.10:53\n").encode()
    assert last.diff == ("- FWM 7", "- SCTP 10.20.0.10:3868", "- UDP 10.20.0.10:53")
    assert written(last) == (ipvs.RECORD_HEADER + "TCP 10.20.0.10:443\nTCP 10.20.0.10:80\nTCP 10.20.0.10:8080\n"
                             ).encode()
    assert ipvs.RECORD_HEADER.encode().startswith(HEADER)
    # Written like any lvsdeploy file: atomically, root's, 0644.
    assert "chmod 0644 \"$lvs_tmp\"" in first.commands and "chown root:root \"$lvs_tmp\"" in first.commands
    # Nothing to add and nothing to remove: the record is not touched.
    assert ipvs.plan(args(minimal_edits_wanted()), owning(director(), ["TCP 10.20.0.10:80", "TCP 10.20.0.10:443"])
                     )[0].resource == "ipvs TCP 10.20.0.10:80"


def test_record_is_rewritten_when_it_differs_only_in_form():
    facts = ours()
    facts.files[RECORD].content = b"TCP 10.20.0.10:80\nTCP 10.20.0.10:443\n\n# hand-written\nUDP 10.20.0.10:53\n" \
                                  b"FWM 7\nSCTP 10.20.0.10:3868\n"
    (change,) = ipvs.plan(args(director_table()), facts)
    assert change.resource == f"file {RECORD}" and change.diff == ("~ header",)
    assert written(change) == record_content(FIXTURE_LABELS)


def test_a_record_for_services_no_longer_in_the_table_is_trimmed():
    # Someone deleted FWM 7 by hand: it is in the record but not in the kernel, and it is not wanted.
    facts = ours()
    facts.ipvs.services = [s for s in facts.ipvs.services if s.label != "FWM 7"]
    a = args([s for s in director_table() if s.label != "FWM 7"])
    (change,) = ipvs.plan(a, facts)
    assert change.resource == f"file {RECORD}" and change.diff == ("- FWM 7",)


def test_old_boot_rules_are_adopted_when_there_is_no_record():
    # An lvsdeploy that predates the record left its boot rules: what they list is ours, the rest is not.
    facts = director()
    rules = "\n".join(ipvs.rules_lines([director_table()[0], director_table()[1], director_table()[3]])) + "\n"
    facts.files[RULES] = FileFact(True, rules.encode(), "0644", "root", "root", "file")
    facts.files[RECORD] = FileFact(False)
    a = args(director_table()[:2], adopt_from=RULES)
    changes = ipvs.plan(a, facts)   # no collision for 80 and 443: they are adopted
    assert [c.resource for c in changes] == [f"file {RECORD}", "ipvs FWM 7", f"file {RECORD}"]
    assert labels_of(written(changes[0])) == ["FWM 7", "TCP 10.20.0.10:443", "TCP 10.20.0.10:80"]
    assert changes[0].diff == ("+ FWM 7", "+ TCP 10.20.0.10:443", "+ TCP 10.20.0.10:80")
    assert changes[1].commands == ("ipvsadm -D -f 7",)
    assert labels_of(written(changes[2])) == ["TCP 10.20.0.10:443", "TCP 10.20.0.10:80"]
    assert ipvs.notes(a, facts) == [
        "ipvs SCTP 10.20.0.10:3868: not managed by lvsdeploy, left alone",
        "ipvs UDP 10.20.0.10:53: not managed by lvsdeploy, left alone",
    ]
    assert converge(a, facts) == []
    assert facts.files[RULES].content == rules.encode()   # the boot rules are read, never written here
    # Without adopt_from the same host is a collision.
    with pytest.raises(ModuleError, match="already exists on the host"):
        ipvs.plan(args(director_table()[:2]), director())


def test_an_existing_record_wins_over_the_old_boot_rules():
    facts = owning(director(), ["TCP 10.20.0.10:80"])
    rules = "\n".join(ipvs.rules_lines(director_table())) + "\n"
    facts.files[RULES] = FileFact(True, rules.encode(), "0644", "root", "root", "file")
    with pytest.raises(ModuleError, match=r"TCP 10\.20\.0\.10:443 already exists"):
        ipvs.plan(args(director_table()[:2], adopt_from=RULES), facts)
    # An empty record (header only) owns nothing, whatever the boot rules say.
    facts = owning(director(), [])
    facts.files[RULES] = FileFact(True, rules.encode(), "0644", "root", "root", "file")
    assert len(ipvs.notes(args([], adopt_from=RULES), facts)) == 5
    assert ipvs.plan(args([], adopt_from=RULES), facts) == []


def test_upgrade_from_boot_rules_only_writes_the_record():
    # The table lvsdeploy made before the record existed, restored at boot from its rules: nothing to edit.
    wanted = director_table()[:3]
    rules = "\n".join(ipvs.rules_lines(wanted)) + "\n"
    facts = HostFacts(ipvs=parse_rules(rules), files={
        RECORD: FileFact(False), RULES: FileFact(True, rules.encode(), "0644", "root", "root", "file")})
    (change,) = ipvs.plan(args(wanted, adopt_from=RULES), facts)
    assert change.resource == f"file {RECORD}"
    assert labels_of(written(change)) == sorted(s.label for s in wanted)
    # adopt_from absent on the host: nothing is adopted.
    facts.files[RULES] = FileFact(False)
    with pytest.raises(ModuleError, match="already exists on the host"):
        ipvs.plan(args(wanted, adopt_from=RULES), facts)


# ---- guards: the host is still what the plan saw ------------------------------------------------------------


def fixture_ipvs_body() -> str:
    """The `ipvsadm -Sn` text of the director fixture (its ipvs section after the state line)."""
    section = split_sections((FIXTURES / "director.facts").read_text())["ipvs"]
    state, _, body = section.partition("\n")
    assert state == "state ok"
    return body


def test_every_change_carries_a_guard_and_the_table_guard_is_the_read_digest():
    facts = ours()
    new = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc")
    changes = ipvs.plan(args(minimal_edits_wanted() + [new]), facts)
    body = fixture_ipvs_body()
    assert facts.ipvs.text == body
    # The wanted services and the owned ones in the table (here all five), each key once, sorted.
    keys = [" --sctp-service 10.20.0.10:3868 ", " -f 7 ", " -t 10.20.0.10:443 ", " -t 10.20.0.10:80 ",
            " -t 10.20.0.10:8080 ", " -u 10.20.0.10:53 "]
    assert rows_of(body, keys) == body + "\n"   # every row of the fixture is one of ours
    digest = hashlib.sha256((body + "\n").encode()).hexdigest()
    assert rows_digest(body, keys) == digest
    table_guard = rows_guard(keys, digest)
    assert table_guard == ('[ "$(ipvsadm -Sn 2>&1 | grep -F -e \' --sctp-service 10.20.0.10:3868 \' -e \' -f 7 \' '
                           "-e ' -t 10.20.0.10:443 ' -e ' -t 10.20.0.10:80 ' -e ' -t 10.20.0.10:8080 ' "
                           f"-e ' -u 10.20.0.10:53 ' | sha256sum | cut -c1-64)\" = {digest} ]")
    record_sha = hashlib.sha256(record_content(FIXTURE_LABELS)).hexdigest()
    record_guard = f'[ "$(sha256sum < {RECORD} | cut -c1-64)" = {record_sha} ]'
    # the thresholds, which -Sn leaves out, hashed from the listing the facts read with the table
    labels = ["FWM 7 ", "SCTP 10.20.0.10:3868 ", "TCP 10.20.0.10:443 ", "TCP 10.20.0.10:80 ", "TCP 10.20.0.10:8080 ",
              "UDP 10.20.0.10:53 "]
    rows = ("TCP 10.20.0.10:80 10.20.0.11:80 0 0\nTCP 10.20.0.10:80 10.20.0.12:80 0 0\n"
            "TCP 10.20.0.10:443 10.20.0.11:443 0 0\nUDP 10.20.0.10:53 10.30.0.11:5353 0 0\n")
    assert threshold_rows(facts.ipvs.thresholds_text, labels).startswith(rows)
    thresholds = thresholds_guard(labels, hashlib.sha256(
        threshold_rows(facts.ipvs.thresholds_text, labels).encode()).hexdigest())
    assert len(changes) == 8
    for change in changes:
        wanted = (record_guard,) if change.resource.startswith("file ") else (table_guard, thresholds)
        assert change.guards == wanted, change
        subprocess.run(["sh", "-n"], input="\n".join(change.guards), text=True, check=True)


def test_guards_without_ip_vs_or_record():
    changes = ipvs.plan(args(director_table()[:1]), fresh())
    assert [c.guards for c in changes] == [(f"[ ! -e {RECORD} ]",), (NOT_LOADED_GUARD,)]


def run_guard(guard: str, table_text: str, tmp_path: Path) -> int:
    """Run a guard in sh with `ipvsadm -Sn` printing table_text (as the real one prints it, newline-ended)."""
    (tmp_path / "table").write_text(table_text + "\n" if table_text else "")
    script = f"ipvsadm() {{ cat {shlex.quote(str(tmp_path / 'table'))}; }}\n{guard}\n"
    return subprocess.run(["sh"], input=script, text=True, capture_output=True).returncode


def test_the_table_guard_holds_in_sh_exactly_for_the_table_that_was_read(tmp_path):
    # The shell side (ipvsadm -Sn | grep -F | sha256sum) and the facts side (rows_digest) hash the same rows.
    (change,) = ipvs.plan(args([director_table()[0]] + minimal_edits_wanted()[1:] + director_table()[2:]), ours())
    guard = change.guards[0]   # the -Sn rows; the thresholds' guard is shown below
    body = fixture_ipvs_body()
    assert run_guard(guard, body, tmp_path) == 0
    assert run_guard(guard, body.replace("-w 2", "-w 3"), tmp_path) == 1   # a weight edited by hand since
    assert run_guard(guard, body + "\n-a -t 10.20.0.10:80 -r 10.20.0.13:80 -g -w 1", tmp_path) == 1
    assert run_guard(guard, body.replace("-A -f 7 -s sh", "-A -f 7 -s rr"), tmp_path) == 1   # owned, not wanted
    # A service that is not ours (in no record, not wanted) added meanwhile: the guard still holds.
    assert run_guard(guard, body + "\n-A -t 10.20.0.10:8443 -s rr", tmp_path) == 0
    # An empty table read as empty: the same digest on both sides.
    empty = HostFacts(ipvs=IpvsTable(text=""), files={RECORD: FileFact(False)})
    (_, change) = ipvs.plan(args(director_table()[:1]), empty)
    assert run_guard(change.guards[0], "", tmp_path) == 0
    assert run_guard(change.guards[0], "-A -t 10.20.0.10:80 -s rr", tmp_path) == 1


def stand_in_ipvsadm(tmp_path: Path, printed: Path, only_for: str | None = None) -> dict:
    """An environment whose PATH finds a stand-in ipvsadm that prints the file `printed`, as the real one prints
    the live table; with `only_for`, only when called with exactly those arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    called = f'[ "$*" = {shlex.quote(only_for)} ] || exit 2\n' if only_for else ""
    (bin_dir / "ipvsadm").write_text(f"#!/bin/sh\n{called}cat {shlex.quote(str(printed))}\n")
    (bin_dir / "ipvsadm").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_the_thresholds_guard_holds_in_sh_until_one_of_our_thresholds_changes(tmp_path):
    """`ipvsadm -Sn` has no -x/-y: a threshold set by hand between plan and apply is caught by the second guard,
    whose awk program and threshold_rows hash the same rows; connection counts and other tools' services may
    change meanwhile."""
    facts = owning(director(), ["TCP 10.20.0.10:80", "TCP 10.20.0.10:443"])
    (change, _) = ipvs.plan(args(minimal_edits_wanted()), facts)
    guard = change.guards[1]
    listing = facts.ipvs.thresholds_text
    table = tmp_path / "listing"
    env = stand_in_ipvsadm(tmp_path, table, only_for="-Ln --thresholds")

    def holds(text: str) -> bool:
        table.write_text(text)
        return subprocess.run(["sh", "-c", guard], env=env, text=True, capture_output=True).returncode == 0

    ours_row = "  -> 10.20.0.12:80                0          0          0          0"
    foreign_row = "  -> 10.30.0.11:5353              0          0          0          0"
    assert ours_row in listing and foreign_row in listing
    assert holds(listing)
    assert holds(listing.replace(ours_row, "  -> 10.20.0.12:80                0          0          7          9"))
    assert holds(listing.replace(foreign_row, "  -> 10.30.0.11:5353              50         0          0          0"))
    assert not holds(listing.replace(ours_row, "  -> 10.20.0.12:80                3          0          0          0"))
    assert not holds(listing.replace(ours_row, "  -> 10.20.0.12:80                0          2          0          0"))


def test_a_foreign_service_changing_does_not_make_the_plan_stale_but_one_of_ours_does(tmp_path):
    # lvsdeploy made the two TCP services; UDP 53, FWM 7 and SCTP belong to another tool (kube-proxy, by hand).
    facts = owning(director(), ["TCP 10.20.0.10:80", "TCP 10.20.0.10:443"])
    changes = ipvs.plan(args(minimal_edits_wanted()), facts)
    assert [c.resource for c in changes] == ["ipvs TCP 10.20.0.10:80", "ipvs TCP 10.20.0.10:443"]
    body = fixture_ipvs_body()
    keys = [" -t 10.20.0.10:443 ", " -t 10.20.0.10:80 "]
    guard = rows_guard(keys, rows_digest(body, keys))
    assert {c.guards[0] for c in changes} == {guard}
    # A stand-in ipvsadm on PATH that prints the table file, as `ipvsadm -Sn` prints the live table.
    table = tmp_path / "table"
    env = stand_in_ipvsadm(tmp_path, table)

    def holds(text: str) -> bool:
        table.write_text(text + "\n")
        run = subprocess.run(["sh", "-c", guard], env=env, text=True, capture_output=True)
        assert run.stderr == "", run.stderr
        return run.returncode == 0

    assert holds(body)   # the table the plan was made against
    foreign_dest = "-a -u 10.20.0.10:53 -r 10.30.0.11:5353 -m -w 1"
    assert foreign_dest in body
    # Another tool's service gains a destination, is reweighted, is removed, or a new one appears: not stale.
    assert holds(body.replace(foreign_dest, f"{foreign_dest}\n-a -u 10.20.0.10:53 -r 10.30.0.12:5353 -m -w 1"))
    assert holds(body.replace("-a -f 7 -r 10.20.0.11:0 -i -w 1", "-a -f 7 -r 10.20.0.11:0 -i -w 9"))
    assert holds("\n".join(line for line in body.splitlines() if "--sctp-service" not in line))
    assert holds(body + "\n-A -t 10.20.0.10:8443 -s rr\n-a -t 10.20.0.10:8443 -r 10.20.0.11:8443 -g -w 1")
    # One of ours edited since (a weight, a destination added, the service gone): stale.
    assert not holds(body.replace("-r 10.20.0.12:80 -g -w 1", "-r 10.20.0.12:80 -g -w 4"))
    assert not holds(body + "\n-a -t 10.20.0.10:443 -r 10.20.0.12:443 -g -w 1")
    assert not holds("\n".join(line for line in body.splitlines() if " -t 10.20.0.10:80 " not in line))


# ---- notes ---------------------------------------------------------------------------------------------------


def test_notes_without_a_table_or_foreign_services_are_empty():
    assert ipvs.notes(args(director_table()[:1]), fresh()) == []
    assert ipvs.notes(args([]), ours()) == []


# ---- rules_lines and persist ---------------------------------------------------------------------------------


EXPECTED_RULES = [
    "-A --sctp-service 10.20.0.10:3868 -s rr",
    "-A -t 10.20.0.10:80 -s rr",
    "-a -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1",
    "-a -t 10.20.0.10:80 -r 10.20.0.12:80 -g -w 1",
    "-A -t 10.20.0.10:443 -s wlc -p 300 -M 255.255.255.0",
    "-a -t 10.20.0.10:443 -r 10.20.0.11:443 -g -w 2",
    "-A -u 10.20.0.10:53 -s rr",
    "-a -u 10.20.0.10:53 -r 10.30.0.11:5353 -m -w 1",
    "-A -f 7 -s sh -p 60",
    "-a -f 7 -r 10.20.0.11:0 -i -w 1",
]


def test_rules_lines_are_sorted_and_deterministic():
    assert ipvs.rules_lines(director_table()) == EXPECTED_RULES
    reversed_table = list(reversed(director_table()))
    for service in reversed_table:
        service.destinations.reverse()
    assert ipvs.rules_lines(reversed_table) == EXPECTED_RULES
    assert ipvs.rules_lines([]) == []


def test_rules_sort_addresses_numerically():
    services = [IpvsService("TCP", vip, 80, None, "rr") for vip in ("10.20.0.100", "10.20.0.9", "9.0.0.1")]
    assert ipvs.rules_lines(services) == [
        "-A -t 9.0.0.1:80 -s rr", "-A -t 10.20.0.9:80 -s rr", "-A -t 10.20.0.100:80 -s rr",
    ]  # fmt: skip


def test_persist_is_the_boot_table_in_ipvsadm_restore_syntax():
    # The boot file is the whole wanted table, whatever the host holds now.
    expected = [("ipvs", line) for line in EXPECTED_RULES]
    assert ipvs.persist(args(list(reversed(director_table()))), director()) == expected
    assert ipvs.persist(args(director_table(), purge=False), HostFacts(ipvs=None)) == expected
    assert ipvs.persist(args([]), director()) == []


def test_persist_is_lvsdeploys_services_only():
    # Foreign services in the kernel never reach the boot rules (restoring them is their owner's business).
    facts = owning(director(), ["TCP 10.20.0.10:80"])
    assert ipvs.persist(args(director_table()[:1]), facts) == [("ipvs", line) for line in EXPECTED_RULES[1:4]]


def test_every_protocol_and_method_of_lvs_round_trips_through_the_facts_reader():
    # The switches come from lvs.py, for the module and the facts reader alike: each one reads back as written.
    services = [
        IpvsService(protocol, "10.20.0.10", 80 + i, None, "wlc",
                    destinations=[IpvsDest(f"10.20.0.{11 + j}", 80 + i, 1, method)
                                  for j, method in enumerate(METHOD_SWITCH)])
        for i, protocol in enumerate(p for p in PROTOCOL_SWITCH if p != "FWM")
    ] + [IpvsService("FWM", None, None, 3, "rr", destinations=[IpvsDest("10.20.0.11", 0, 1, "masq")])]  # fmt: skip
    lines = ipvs.rules_lines(services)
    assert {line.split()[1] for line in lines} == set(PROTOCOL_SWITCH.values())
    assert {line.split()[-3] for line in lines if line.startswith("-a")} == set(METHOD_SWITCH.values())
    back = parse_rules("\n".join(lines)).services
    assert sorted(back, key=lambda s: str(s.key)) == sorted(services, key=lambda s: str(s.key))
    facts = owning(HostFacts(ipvs=IpvsTable(back)), [s.label for s in services])
    assert ipvs.plan(args(services), facts) == []


def test_every_supported_mode_has_an_ipvsadm_method():
    assert {mode.method for mode in MODES.values()} <= set(METHOD_SWITCH)


# ---- arguments ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    ({}, "missing argument"),
    ({"services": None, "record": RECORD}, "missing argument"),
    ({"services": [], "record": None}, "missing argument"),
    ({"services": []}, "missing argument"),   # the record is required: without it nothing is known to be ours
    ({"services": "TCP 10.20.0.10:80", "record": RECORD}, "typed services"),
    ({"services": {"vip": "10.20.0.10", "port": 80}, "record": RECORD}, "typed services"),
    # the untyped task arguments of old are refused, not re-validated
    ({"services": [{"vip": "10.20.0.10", "port": 80, "destinations": [{"ip": "10.20.0.11"}]}], "record": RECORD},
     "typed services"),
    ({"services": [IpvsService("TCP", "10.20.0.10", 80, None, "rr"), "x"], "record": RECORD}, "typed services"),
    ({"services": [], "record": RECORD, "purge": "maybe"}, "purge must be true or false"),
    ({"services": [], "record": RECORD, "flush": True}, "unknown argument"),
    ({"services": [], "record": "ipvs.managed"}, "path must be an absolute file path"),
    ({"services": [], "record": "/"}, "path must be an absolute file path"),
    ({"services": [], "record": RECORD, "adopt_from": "etc/ipvs.rules"}, "path must be an absolute file path"),
])  # fmt: skip
def test_untyped_or_unknown_arguments_are_refused(args, message):
    with pytest.raises(ModuleError, match=message):
        ipvs.facts_needed(args)
    with pytest.raises(ModuleError, match=message):
        ipvs.plan(args, ours())
    with pytest.raises(ModuleError, match=message):
        ipvs.notes(args, ours())
    with pytest.raises(ModuleError, match=message):
        ipvs.persist(args, ours())


def test_facts_needed_reads_the_record_and_the_old_boot_rules():
    # The IPVS table is always read; the files are the record and, when given, the rules to adopt; the units
    # are the health checkers' (a handover stops the one that kept the services until now), whatever the owner.
    for owner in ipvs.OWNERS:
        request = ipvs.facts_needed(args(director_table(), owner=owner))
        assert request.files == {RECORD}
        assert request.units == {"keepalived.service", "ldirectord.service"}
        assert not (request.sysctls or request.packages)
    assert ipvs.facts_needed(args(director_table(), adopt_from=RULES)).files == {RECORD, RULES}
    assert ipvs.facts_needed(args([], adopt_from="")).files == {RECORD}   # an empty adopt_from is none


# ---- drained real servers (lvsdeploy drain/undrain): weight 0, remembered on the director -------------------

DRAINED = "/etc/lvsdeploy/drained"
RS1_WEB = {"service": "TCP 10.20.0.10:80", "dest": "10.20.0.11:80", "since": "2026-11-30T14:20:05Z"}


def with_drains(**more) -> dict:
    return args(director_table(), drained=DRAINED, **more)


def drained_facts() -> HostFacts:
    facts = ours()
    facts.files[DRAINED] = FileFact(False)
    return facts


def test_a_drain_is_recorded_first_then_weight_zero_and_kept_by_later_applies():
    facts = drained_facts()
    changes = ipvs.plan(with_drains(drain=[RS1_WEB]), facts)
    assert [c.resource for c in changes] == [f"file {DRAINED}", "ipvs TCP 10.20.0.10:80"]
    assert changes[0].diff == ("+ TCP 10.20.0.10:80 -> 10.20.0.11:80 drained since 2026-11-30T14:20:05Z",)
    assert changes[1].diff[1:] == ("  ~ -> 10.20.0.11:80 weight 1 -> 0",)
    assert changes[1].commands == ("ipvsadm -e -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 0",)
    apply(changes, facts)
    # a plain apply afterwards (no drain asked): nothing to change, and plan says why the weight is 0
    assert ipvs.plan(with_drains(), facts) == []
    assert ipvs.notes(with_drains(), facts) == [
        "ipvs TCP 10.20.0.10:80 -> 10.20.0.11:80: drained since 2026-11-30T14:20:05Z (weight 0 until "
        "`lvsdeploy undrain`)"]
    assert "-a -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 0" in [line for _, line in ipvs.persist(with_drains(), facts)]
    # draining again keeps the first since
    again = dict(RS1_WEB, since="2026-12-01T00:00:00Z")
    assert ipvs.plan(with_drains(drain=[again]), facts) == []


def test_undrain_gives_the_inventorys_weight_back_and_forgets_the_line():
    facts = drained_facts()
    apply(ipvs.plan(with_drains(drain=[RS1_WEB]), facts), facts)
    changes = ipvs.plan(with_drains(undrain=[{"service": RS1_WEB["service"], "dest": RS1_WEB["dest"]}]), facts)
    assert [c.resource for c in changes] == [f"file {DRAINED}", "ipvs TCP 10.20.0.10:80"]
    assert changes[0].diff == ("- TCP 10.20.0.10:80 -> 10.20.0.11:80 (undrained)",)
    assert changes[1].commands == ("ipvsadm -e -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1",)
    apply(changes, facts)
    assert ipvs.plan(with_drains(), facts) == [] and ipvs.notes(with_drains(), facts) == []


def test_a_drain_of_a_real_server_the_inventory_no_longer_has_is_forgotten():
    facts = drained_facts()
    stale = dict(RS1_WEB, dest="10.20.0.99:80")
    (change,) = ipvs.plan(with_drains(drain=[RS1_WEB, stale]), facts)[:1]
    assert "10.20.0.99" not in written(change).decode()
    assert ipvs.plan(with_drains(), drained_facts()) == []   # no record, no drain: nothing written
