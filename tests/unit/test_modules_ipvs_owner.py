"""ipvs with `owner`: who keeps each of lvsdeploy's services, lvsdeploy itself (ipvsadm) or a health checker's
daemon (keepalived, ldirectord). The record says it per line ("LABEL" or "LABEL OWNER"); a handover stops the
old checker first, edits the table to the inventory once, and only then names the new keeper in the record (so
a handover that fails half-way is done again by the next apply); a service its checker keeps is the checker's
(a real server it took out is a note, not drift); nothing a checker keeps is saved for boot.

The fixtures and helpers are test_modules_ipvs.py's (the director fixture's five services, the fake ipvsadm).
"""

import hashlib
import subprocess

import pytest

from lvsdeploy.facts import FileFact, HostFacts, IpvsDest, IpvsService, UnitFact
from lvsdeploy.facts.ipvs import rows_digest, rows_guard
from lvsdeploy.modules import ipvs
from lvsdeploy.modules.base import ModuleError

from test_modules_ipvs import (EXPECTED_RULES, FIXTURE_LABELS, RECORD, apply_ipvsadm, args, director, director_table,
                               labels_of, ours, record_content, service_changes, written)

CHECKERS = ("keepalived", "ldirectord")
HTTP, HTTPS = "TCP 10.20.0.10:80", "TCP 10.20.0.10:443"


def record_of(owners: dict[str, str]) -> bytes:
    """The record as the module writes it: one line per label, sorted, with its keeper unless that is lvsdeploy."""
    return ipvs.RECORD_HEADER.encode() + "".join(
        f"{label}\n" if owner == "lvsdeploy" else f"{label} {owner}\n" for label, owner in sorted(owners.items())
    ).encode()


def keeping(facts: HostFacts, owners: dict[str, str]) -> HostFacts:
    """`facts` with a record that says who keeps each of lvsdeploy's services."""
    facts.files[RECORD] = FileFact(True, record_of(owners), "0644", "root", "root", "file")
    return facts


def kept_by(checker: str, running: bool = True) -> HostFacts:
    """The director fixture where `checker` keeps all five services (handed over by an earlier apply), and its
    daemon runs."""
    facts = keeping(director(), {label: checker for label in FIXTURE_LABELS})
    state = ("enabled", "active") if running else ("disabled", "inactive")
    facts.units[f"{checker}.service"] = UnitFact("loaded", *state)
    return facts


def service_of(facts: HostFacts, label: str) -> IpvsService:
    return next(s for s in facts.ipvs.services if s.label == label)


def take_out(facts: HostFacts, label: str, ip: str) -> HostFacts:
    """What a checker does to a failing real server with on_failure remove."""
    service = service_of(facts, label)
    service.destinations = [d for d in service.destinations if d.ip != ip]
    return facts


def quiesce(facts: HostFacts, label: str, ip: str) -> HostFacts:
    """What a checker does to a failing real server with on_failure quiescent."""
    service = service_of(facts, label)
    service.destinations = [IpvsDest(d.ip, d.port, 0, d.method) if d.ip == ip else d for d in service.destinations]
    return facts


def run_edits(facts: HostFacts, commands) -> None:
    """Run ipvsadm edits on the fake table; a tolerant one ("X 2>/dev/null || Y") runs Y when ipvsadm refuses X."""
    for command in commands:
        first, _, fallback = command.partition(" 2>/dev/null || ")
        try:
            facts.ipvs = apply_ipvsadm(facts.ipvs, [first])
        except AssertionError:
            if not fallback:
                raise
            if fallback != "true":
                facts.ipvs = apply_ipvsadm(facts.ipvs, [fallback])


def apply(changes, facts: HostFacts) -> None:
    """The planned changes in order: the record lands in facts.files, a checker stopped in facts.units (its
    daemon leaves the table as it is), edits in the fake table."""
    for change in changes:
        if change.resource.startswith("file "):
            facts.files[RECORD] = FileFact(True, written(change), "0644", "root", "root", "file")
        elif change.resource.startswith("service "):
            unit = change.resource.removeprefix("service ")
            assert f"systemctl stop {unit}" in change.commands, change
            facts.units[unit] = UnitFact("loaded", "disabled", "inactive")
        else:
            run_edits(facts, change.commands)


def table_commands(changes) -> list[str]:
    return [c for change in service_changes(changes) for c in change.commands]


# ---- arguments --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("owner", ["haproxy", "none", "", None, "Keepalived"])
def test_owner_is_lvsdeploy_or_a_checker(owner):
    with pytest.raises(ModuleError, match=r"^ipvs: owner must be one of lvsdeploy, keepalived, ldirectord, got "):
        ipvs.plan(args(director_table(), owner=owner), ours())
    with pytest.raises(ModuleError, match="owner must be one of"):
        ipvs.persist(args(director_table(), owner=owner), ours())


def test_lvsdeploy_is_the_default_owner():
    facts = ours()
    assert ipvs.plan(args(director_table(), owner="lvsdeploy"), facts) == ipvs.plan(args(director_table()), facts)
    assert ipvs.plan(args(director_table(), owner="lvsdeploy"), facts) == []


# ---- the record ---------------------------------------------------------------------------------------------------

def test_old_record_lines_without_an_owner_are_lvsdeploys():
    # A record written before health checks (one label per line) reads as lvsdeploy keeping every service: for
    # lvsdeploy nothing to do; for keepalived a handover of all five, and the record rewritten with owners.
    facts = ours()
    assert facts.files[RECORD].content == record_content(FIXTURE_LABELS)
    assert ipvs.plan(args(director_table()), facts) == []
    (record,) = ipvs.plan(args(director_table(), owner="keepalived"), facts)
    assert record.resource == f"file {RECORD}"
    assert record.diff == tuple(f"~ {label}: kept by lvsdeploy -> keepalived" for label in sorted(FIXTURE_LABELS))
    assert labels_of(written(record)) == sorted(f"{label} keepalived" for label in FIXTURE_LABELS)


def test_a_record_mixing_both_forms_reads_each_line_on_its_own():
    # 80 in the old form (lvsdeploy's), 443 already handed to keepalived: only 80 is handed over and aligned
    # (a plain edit: lvsdeploy kept it until now), and only then does the record name keepalived for it.
    owners = {label: "lvsdeploy" for label in FIXTURE_LABELS} | {HTTPS: "keepalived"}
    facts = take_out(take_out(keeping(director(), owners), HTTPS, "10.20.0.11"), HTTP, "10.20.0.12")
    wanted = [s for s in director_table() if s.label in (HTTP, HTTPS)]
    a = args(wanted, owner="keepalived", purge=False)
    changes = ipvs.plan(a, facts)
    assert [c.resource for c in changes] == [f"ipvs {HTTP}", f"file {RECORD}"]
    web, record = changes
    assert web.commands == ("ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.12:80 -g -w 1",)
    assert record.diff == (f"~ {HTTP}: kept by lvsdeploy -> keepalived",)
    assert written(record) == record_of(owners | {HTTP: "keepalived"})
    # 443 is keepalived's: its missing real server is keepalived's doing, said as a note
    (note,) = ipvs.notes(a, facts)
    assert note.startswith(f"ipvs {HTTPS} -> 10.20.0.11:443: out of rotation") and "keepalived" in note
    apply(changes, facts)
    assert ipvs.plan(a, facts) == []


def test_record_lines_keep_their_owner_through_a_rewrite():
    # A service added while keepalived keeps the others: the record gains it with its keeper.
    facts = kept_by("keepalived")
    new = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc", destinations=[IpvsDest("10.20.0.14", 8080, 1, "route")])
    (record,) = ipvs.plan(args(director_table() + [new], owner="keepalived"), facts)
    assert record.diff == ("+ TCP 10.20.0.10:8080 keepalived",)
    assert written(record) == record_of({label: "keepalived" for label in FIXTURE_LABELS + ["TCP 10.20.0.10:8080"]})


# ---- none -> keepalived ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("checker", CHECKERS)
def test_handover_from_lvsdeploy_edits_the_table_to_the_inventory_once(checker):
    # lvsdeploy kept the five services; the inventory now names a checker and changes web's real servers. The
    # table is edited to the inventory first (with lvsdeploy's plain edits: nothing else touches it yet), so the
    # checker starts from it; only then does the record name the checker (the record as it is says lvsdeploy
    # for all five: no write before the edits). No service is deleted.
    facts = ours()
    wanted = director_table()
    wanted[0].destinations = [IpvsDest("10.20.0.11", 80, 3, "route"), IpvsDest("10.20.0.12", 80, 1, "route"),
                              IpvsDest("10.20.0.13", 80, 1, "route")]
    a = args(wanted, owner=checker)
    changes = ipvs.plan(a, facts)
    assert [c.resource for c in changes] == [f"ipvs {HTTP}", f"file {RECORD}"]
    web, record = changes
    assert record.diff == tuple(f"~ {label}: kept by lvsdeploy -> {checker}" for label in sorted(FIXTURE_LABELS))
    assert written(record) == record_of({label: checker for label in FIXTURE_LABELS})
    # the record's write is guarded by the record the plan read (all guards are checked before any edit)
    digest = hashlib.sha256(facts.files[RECORD].content).hexdigest()
    assert record.guards == (f'[ "$(sha256sum < {RECORD} | cut -c1-64)" = {digest} ]',)
    assert web.commands == ("ipvsadm -e -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 3",
                            "ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.13:80 -g -w 1")
    assert not any(c.split()[1] in ("-D", "-C") for c in table_commands(changes))
    # no checker kept anything before: nothing to stop
    assert not any(c.resource.startswith("service ") for c in changes)
    # the edits are guarded like lvsdeploy's own (the services it still keeps until the record is written)
    keys = sorted({f" {ipvs.service_switch(s)} " for s in wanted})
    assert web.guards[0] == rows_guard(keys, rows_digest(facts.ipvs.text, keys))   # then the thresholds'
    # Applied: the table is the inventory's, the record names the checker, the next plan is empty and quiet.
    apply(changes, facts)
    assert {s.key: s for s in facts.ipvs.services} == {s.key: s for s in wanted}
    assert ipvs.plan(a, facts) == []
    assert ipvs.notes(a, facts) == []
    assert ipvs.persist(a, facts) == []


def test_handover_to_a_checker_still_deletes_what_lvsdeploy_kept_and_the_inventory_dropped():
    # The checker never knew UDP 53, FWM 7 and SCTP: lvsdeploy made them, lvsdeploy removes them (plain -D),
    # and only then do they leave the record, in the one write that names keepalived for 80 and 443. Until it,
    # the record as it is (lvsdeploy's five) stands: no write before the deletes.
    facts = ours()
    a = args(director_table()[:2], owner="keepalived")
    changes = ipvs.plan(a, facts)
    assert [c.resource for c in changes] == ["ipvs SCTP 10.20.0.10:3868", "ipvs UDP 10.20.0.10:53", "ipvs FWM 7",
                                             f"file {RECORD}"]
    assert table_commands(changes) == ["ipvsadm -D --sctp-service 10.20.0.10:3868", "ipvsadm -D -u 10.20.0.10:53",
                                       "ipvsadm -D -f 7"]
    assert changes[-1].diff == (f"~ {HTTPS}: kept by lvsdeploy -> keepalived",
                                f"~ {HTTP}: kept by lvsdeploy -> keepalived",
                                "- FWM 7", "- SCTP 10.20.0.10:3868", "- UDP 10.20.0.10:53")
    assert labels_of(written(changes[-1])) == [f"{HTTPS} keepalived", f"{HTTP} keepalived"]
    apply(changes, facts)
    assert sorted(s.label for s in facts.ipvs.services) == sorted([HTTP, HTTPS])
    assert ipvs.plan(a, facts) == []


def test_a_service_someone_else_made_is_still_a_collision_for_a_checker():
    # keepalived would take it over on start: refused as for lvsdeploy itself.
    with pytest.raises(ModuleError, match=r"^ipvs: TCP 10\.20\.0\.10:80 already exists on the host and lvsdeploy "
                                          r"did not create it"):
        ipvs.plan(args(director_table()[:1], owner="keepalived"), director())


# ---- a service its checker keeps -------------------------------------------------------------------------------

@pytest.mark.parametrize("checker", CHECKERS)
def test_a_real_server_the_checker_took_out_is_no_change_but_a_note(checker):
    facts = take_out(kept_by(checker), HTTP, "10.20.0.11")
    a = args(director_table(), owner=checker)
    assert ipvs.plan(a, facts) == []
    (note,) = ipvs.notes(a, facts)
    assert note.startswith(f"ipvs {HTTP} -> 10.20.0.11:80: out of rotation"), note
    assert f"{checker}'s health check" in note
    # The same table kept by lvsdeploy is drift: put back, no note.
    facts = take_out(ours(), HTTP, "10.20.0.11")
    (change,) = ipvs.plan(args(director_table()), facts)
    assert change.commands == ("ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1",)
    assert ipvs.notes(args(director_table()), facts) == []


@pytest.mark.parametrize("checker", CHECKERS)
def test_weight_zero_set_by_the_checker_is_a_quiescent_note(checker):
    facts = quiesce(kept_by(checker), HTTPS, "10.20.0.11")
    a = args(director_table(), owner=checker)
    assert ipvs.plan(a, facts) == []
    assert ipvs.notes(a, facts) == [
        f"ipvs {HTTPS} -> 10.20.0.11:443: weight 0 (quiescent), set by {checker}'s health check"]
    # weight 0 in the inventory too: that is no checker's doing, nothing to say
    wanted = director_table()
    wanted[1].destinations = [IpvsDest("10.20.0.11", 443, 0, "route")]
    assert ipvs.notes(args(wanted, owner=checker), facts) == []


def test_what_the_inventory_changes_in_a_checkers_service_is_the_checkers_to_apply():
    # A weight, a new real server, another scheduler: keepalived.conf says so and its reload applies it; the
    # ipvs module leaves the service alone (the notes say what is not in the table yet).
    facts = kept_by("keepalived")
    wanted = director_table()
    wanted[0] = IpvsService("TCP", "10.20.0.10", 80, None, "wlc", destinations=[
        IpvsDest("10.20.0.11", 80, 5, "route"), IpvsDest("10.20.0.13", 80, 1, "route")])
    a = args(wanted, owner="keepalived")
    assert ipvs.plan(a, facts) == []
    (note,) = ipvs.notes(a, facts)
    assert note.startswith(f"ipvs {HTTP} -> 10.20.0.13:80: out of rotation")


def test_a_service_dropped_from_the_inventory_is_left_to_its_checker():
    # keepalived removes a service that left its configuration on reload: no -D from lvsdeploy, the record just
    # forgets it (once: the first write has nothing to add).
    facts = kept_by("keepalived")
    a = args(director_table()[:2], owner="keepalived")
    (record,) = ipvs.plan(a, facts)
    assert record.resource == f"file {RECORD}"
    assert record.diff == ("- FWM 7 keepalived", "- SCTP 10.20.0.10:3868 keepalived", "- UDP 10.20.0.10:53 keepalived")
    assert labels_of(written(record)) == [f"{HTTPS} keepalived", f"{HTTP} keepalived"]
    # without purge it stays keepalived's, and in the record
    assert ipvs.plan(args(director_table()[:2], owner="keepalived", purge=False), facts) == []


def test_nothing_a_checker_keeps_is_saved_for_boot():
    # The checker's daemon creates its services at boot; `ipvsadm -R` restoring them too would race it.
    for checker in CHECKERS:
        assert ipvs.persist(args(director_table(), owner=checker), kept_by(checker)) == []
        assert ipvs.persist(args(director_table(), owner=checker), ours()) == []
    assert ipvs.persist(args(director_table()), kept_by("keepalived")) == [("ipvs", line) for line in EXPECTED_RULES]


# ---- keepalived -> none ---------------------------------------------------------------------------------------------

def test_handover_to_lvsdeploy_stops_the_checker_first_then_edits_tolerantly():
    # keepalived kept the table and took out rs1 of web and quiesced rs1 of https. Back to none: keepalived is
    # stopped and disabled first (it leaves the table as it is), then the table is put back to the inventory
    # with edits that tolerate keepalived having changed it since the facts were read, and last the record says
    # lvsdeploy again (the old form).
    facts = quiesce(take_out(kept_by("keepalived"), HTTP, "10.20.0.11"), HTTPS, "10.20.0.11")
    a = args(director_table())
    changes = ipvs.plan(a, facts)
    assert [c.resource for c in changes] == ["service keepalived.service", f"ipvs {HTTP}", f"ipvs {HTTPS}",
                                             f"file {RECORD}"]
    stop, web, https, record = changes
    assert "systemctl stop keepalived.service" in stop.commands
    assert "systemctl --no-reload disable keepalived.service" in stop.commands
    assert record.diff == tuple(f"~ {label}: kept by keepalived -> lvsdeploy" for label in sorted(FIXTURE_LABELS))
    assert written(record) == record_content(FIXTURE_LABELS)
    assert web.commands == ("ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1 2>/dev/null || "
                            "ipvsadm -e -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1",)
    assert https.commands == ("ipvsadm -e -t 10.20.0.10:443 -r 10.20.0.11:443 -g -w 2 2>/dev/null || "
                              "ipvsadm -a -t 10.20.0.10:443 -r 10.20.0.11:443 -g -w 2",)
    assert not any(c.resource == "service ldirectord.service" for c in changes)
    # keepalived put rs1 back while it stopped (the race the tolerant form is for): the -a falls back to -e.
    service_of(facts, HTTP).destinations.append(IpvsDest("10.20.0.11", 80, 1, "route"))
    apply(changes, facts)
    assert facts.units["keepalived.service"].active == "inactive"
    assert ipvs.plan(a, facts) == [] and ipvs.notes(a, facts) == []
    assert ipvs.persist(a, facts) == [("ipvs", line) for line in EXPECTED_RULES]


def test_the_tolerant_form_of_each_edit():
    # keepalived removed 443 altogether (quorum lost, no sorry server), gave web another scheduler by hand, and
    # kept a real server the inventory no longer names; UDP 53 left the inventory.
    facts = kept_by("keepalived")
    facts.ipvs.services.remove(service_of(facts, HTTPS))
    service_of(facts, HTTP).scheduler = "wlc"
    service_of(facts, HTTP).destinations.append(IpvsDest("10.20.0.13", 80, 1, "route"))
    wanted = [s for s in director_table() if s.label != "UDP 10.20.0.10:53"]
    changes = ipvs.plan(args(wanted), facts)
    commands = {c.resource: c.commands for c in service_changes(changes)}
    assert commands[f"ipvs {HTTP}"] == (
        "ipvsadm -E -t 10.20.0.10:80 -s rr 2>/dev/null || ipvsadm -A -t 10.20.0.10:80 -s rr",
        "ipvsadm -d -t 10.20.0.10:80 -r 10.20.0.13:80 2>/dev/null || true",
    )
    assert commands[f"ipvs {HTTPS}"] == (
        "ipvsadm -A -t 10.20.0.10:443 -s wlc -p 300 -M 255.255.255.0 2>/dev/null || "
        "ipvsadm -E -t 10.20.0.10:443 -s wlc -p 300 -M 255.255.255.0",
        "ipvsadm -a -t 10.20.0.10:443 -r 10.20.0.11:443 -g -w 2 2>/dev/null || "
        "ipvsadm -e -t 10.20.0.10:443 -r 10.20.0.11:443 -g -w 2",
    )
    assert commands["ipvs UDP 10.20.0.10:53"] == ("ipvsadm -D -u 10.20.0.10:53 2>/dev/null || true",)
    for command in table_commands(changes):
        subprocess.run(["sh", "-n"], input=command, text=True, check=True)
    apply(changes, facts)
    assert ipvs.plan(args(wanted), facts) == []


def test_handover_when_the_checker_is_already_stopped_stops_nothing():
    facts = kept_by("keepalived", running=False)
    changes = ipvs.plan(args(director_table()), facts)
    assert [c.resource for c in changes] == [f"file {RECORD}"]


# ---- keepalived -> ldirectord ---------------------------------------------------------------------------------------

def test_handover_between_checkers_stops_the_old_one_and_only_aligns_the_table():
    facts = kept_by("keepalived")
    a = args(director_table(), owner="ldirectord")
    changes = ipvs.plan(a, facts)
    # the table is the inventory's already: keepalived stops, the record names ldirectord (its one write),
    # nothing else
    handover = tuple(f"~ {label}: kept by keepalived -> ldirectord" for label in sorted(FIXTURE_LABELS))
    assert [c.resource for c in changes] == ["service keepalived.service", f"file {RECORD}"]
    assert "systemctl stop keepalived.service" in changes[0].commands
    assert changes[1].diff == handover
    assert written(changes[1]) == record_of({label: "ldirectord" for label in FIXTURE_LABELS})
    # the new checker is started by the role after this task, never by the ipvs module
    assert not any("ldirectord.service" in c.resource for c in changes)
    apply(changes, facts)
    assert ipvs.plan(a, facts) == []
    # keepalived had taken a real server out: the one edit puts the table back to the inventory for ldirectord,
    # after keepalived stopped and before the record names ldirectord
    facts = take_out(kept_by("keepalived"), HTTP, "10.20.0.12")
    changes = ipvs.plan(a, facts)
    assert [c.resource for c in changes] == ["service keepalived.service", f"ipvs {HTTP}", f"file {RECORD}"]
    assert changes[1].commands == ("ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.12:80 -g -w 1 2>/dev/null || "
                                   "ipvsadm -e -t 10.20.0.10:80 -r 10.20.0.12:80 -g -w 1",)
    assert changes[2].diff == handover
    assert written(changes[2]) == record_of({label: "ldirectord" for label in FIXTURE_LABELS})
    apply(changes, facts)
    assert {s.key: s for s in facts.ipvs.services} == {s.key: s for s in director_table()}
    assert ipvs.plan(a, facts) == []


def test_a_service_dropped_during_a_handover_between_checkers_is_deleted_tolerantly():
    # keepalived kept FWM 7, which the inventory dropped while switching to ldirectord: ldirectord never knew it,
    # and keepalived (stopped first) leaves it, so lvsdeploy deletes it; the record (still "FWM 7 keepalived"
    # until then: no write before the delete) drops it afterwards, in the write that names ldirectord.
    facts = kept_by("keepalived")
    wanted = [s for s in director_table() if s.label != "FWM 7"]
    a = args(wanted, owner="ldirectord")
    changes = ipvs.plan(a, facts)
    assert [c.resource for c in changes] == ["service keepalived.service", "ipvs FWM 7", f"file {RECORD}"]
    assert changes[1].commands == ("ipvsadm -D -f 7 2>/dev/null || true",)
    kept = sorted(s.label for s in wanted)
    assert changes[2].diff == tuple(f"~ {label}: kept by keepalived -> ldirectord" for label in kept) + (
        "- FWM 7 keepalived",)
    assert written(changes[2]) == record_of({label: "ldirectord" for label in kept})
    apply(changes, facts)
    assert "FWM 7" not in {s.label for s in facts.ipvs.services}
    assert ipvs.plan(a, facts) == []


# ---- a handover that fails half-way -------------------------------------------------------------------------------

@pytest.mark.parametrize("old, new", [("lvsdeploy", "keepalived"), ("lvsdeploy", "ldirectord"),
                                      ("keepalived", "ldirectord"), ("ldirectord", "keepalived"),
                                      ("keepalived", "lvsdeploy")])
def test_a_handover_that_fails_half_way_is_done_again_by_the_next_apply(old, new):
    # `old` kept the five services; web lost rs2 and https's rs1 was quiesced; the inventory hands them to `new`
    # and adds 8080. The first write (only the new service: it gets its new keeper) and the old checker's stop
    # come first, then the table edits; the second edit fails, so the final write never runs.
    facts = ours() if old == "lvsdeploy" else kept_by(old)
    facts = quiesce(take_out(facts, HTTP, "10.20.0.12"), HTTPS, "10.20.0.11")
    added = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc",
                        destinations=[IpvsDest("10.20.0.14", 8080, 1, "route")])
    wanted = director_table() + [added]
    a = args(wanted, owner=new)
    changes = ipvs.plan(a, facts)
    records = [i for i, c in enumerate(changes) if c.resource == f"file {RECORD}"]
    edits = [i for i, c in enumerate(changes) if c.resource.startswith("ipvs ")]
    assert len(records) == 2 and records[0] < edits[0] and edits[-1] < records[1] == len(changes) - 1
    first, final = changes[records[0]], changes[records[1]]
    assert first.diff == (f"+ {added.label}" if new == "lvsdeploy" else f"+ {added.label} {new}",)
    assert written(first) == record_of({label: old for label in FIXTURE_LABELS} | {added.label: new})
    assert final.diff == tuple(f"~ {label}: kept by {old} -> {new}" for label in sorted(FIXTURE_LABELS))
    assert written(final) == record_of({label: new for label in FIXTURE_LABELS + [added.label]})
    stops = [c.resource for c in changes if c.resource.startswith("service ")]
    assert stops == ([] if old == "lvsdeploy" else [f"service {old}.service"])
    # the apply stops at the second table edit: what ran is in the table and the record, nothing after it
    failed_at = edits[1]
    done, undone = service_changes(changes[:failed_at]), service_changes(changes[failed_at:])
    assert done and undone
    apply(changes[:failed_at], facts)
    # the record still names the old keeper for every service it kept (8080 is new: its new keeper)
    assert facts.files[RECORD].content == record_of({label: old for label in FIXTURE_LABELS} | {added.label: new})
    if old != "lvsdeploy":
        assert facts.units[f"{old}.service"].active == "inactive"
    # The next plan sees the handover still to do: the old checker is stopped already, the edit that ran is not
    # redone, the ones that did not run are planned again (the same commands), then the record names the new
    # keeper, and nothing before it (8080 is recorded already).
    again = ipvs.plan(a, facts)
    assert [c.resource for c in again] == [c.resource for c in undone] + [f"file {RECORD}"]
    assert [c.commands for c in service_changes(again)] == [c.commands for c in undone]
    assert again[-1].diff == final.diff
    assert written(again[-1]) == written(final)
    # applied in full, it converges: the table is the inventory's (but 8080, which a checker creates itself)
    apply(again, facts)
    table = {s.key: s for s in facts.ipvs.services}
    assert all(table[s.key] == s for s in director_table())
    assert (added.key in table) == (new == "lvsdeploy")
    assert ipvs.plan(a, facts) == []
    assert ipvs.notes(a, facts) == []


# ---- guards ---------------------------------------------------------------------------------------------------------

def run_guard(guard: str, table_text: str, tmp_path) -> subprocess.CompletedProcess:
    """A guard in sh, with `ipvsadm -Sn` printing table_text."""
    (tmp_path / "table").write_text(table_text + "\n" if table_text else "")
    script = f"ipvsadm() {{ cat '{tmp_path / 'table'}'; }}\n{guard}\n"
    return subprocess.run(["sh"], input=script, text=True, capture_output=True)


def test_guards_of_a_steady_checker_plan_leave_its_services_out():
    # A checker's services change whenever a real server fails: they never make a plan stale. Here the one
    # change is the record's (a service added), guarded by the record alone.
    facts = kept_by("keepalived")
    new = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc", destinations=[IpvsDest("10.20.0.14", 8080, 1, "route")])
    (record,) = ipvs.plan(args(director_table() + [new], owner="keepalived"), facts)
    digest = hashlib.sha256(facts.files[RECORD].content).hexdigest()
    assert record.guards == (f'[ "$(sha256sum < {RECORD} | cut -c1-64)" = {digest} ]',)


def test_guards_of_a_handover_from_a_checker_are_valid_and_quiet(tmp_path):
    facts = take_out(kept_by("keepalived"), HTTP, "10.20.0.11")
    changes = ipvs.plan(args(director_table()), facts)
    for change in changes:
        for guard in (g for g in change.guards if RECORD not in g):   # the record's own guard reads the host's file
            ran = run_guard(guard, facts.ipvs.text, tmp_path)
            assert ran.returncode == 0, guard
            assert ran.stderr == "", f"{guard}: {ran.stderr}"


# ---- hand-edited records, handovers from a checker, a checker that does not run ---------------------------------

def test_a_hand_edited_record_never_makes_the_plan_stop_another_unit():
    # The facts are shared by all of a host's tasks: they may hold any unit another task asked about.
    facts = keeping(director(), {label: "lvsdeploy-network" for label in FIXTURE_LABELS})
    facts.units["lvsdeploy-network.service"] = UnitFact("loaded", "enabled", "active")
    try:
        changes = ipvs.plan(args(director_table()), facts)
    except ModuleError as error:   # refusing the record is fine too
        assert RECORD in str(error)
        return
    assert not any(c.resource.startswith("service ") for c in changes), [c.resource for c in changes]


def test_a_dropped_service_is_never_orphaned_when_its_checker_does_not_run():
    facts = kept_by("keepalived", running=False)
    changes = ipvs.plan(args([s for s in director_table() if s.label != "FWM 7"], owner="keepalived"), facts)
    deleted = any(c.resource == "ipvs FWM 7" and c.commands[0].startswith("ipvsadm -D -f 7") for c in changes)
    records = [written(c) for c in changes if c.resource == f"file {RECORD}"]
    still_recorded = not records or "FWM 7 keepalived" in labels_of(records[-1])
    assert deleted or still_recorded


@pytest.mark.parametrize("checker", CHECKERS)
def test_a_drained_real_server_under_a_checker_is_noted_as_drained_not_quiescent(checker):
    """The checker sets weight 0 from its configuration (drain.checker_vars): the plan says it is the drain's."""
    from lvsdeploy import drain
    facts = quiesce(kept_by(checker), HTTPS, "10.20.0.11")
    record = drain.render(drain.parse(f"{HTTPS} 10.20.0.11:443 2026-11-30T17:38:10Z\n".encode()))
    facts.files["/etc/lvsdeploy/drained"] = FileFact(True, record, "0644", "root", "root", "file")
    a = args(director_table(), owner=checker, drained="/etc/lvsdeploy/drained")
    assert ipvs.plan(a, facts) == []
    assert ipvs.notes(a, facts) == [
        f"ipvs {HTTPS} -> 10.20.0.11:443: drained since 2026-11-30T17:38:10Z (weight 0 in {checker}'s "
        "configuration until `lvsdeploy undrain`)"]
