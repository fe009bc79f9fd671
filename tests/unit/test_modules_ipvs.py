"""ipvs: minimal ipvsadm edits against the live table, never a flush; the boot rules (ipvsadm -R lines).

Input is typed (facts.IpvsService, as desired.py builds it from the validated model); validation of ports,
netmasks, schedulers and duplicates lives in validate.py and is tested in test_validate.py.
"""

from pathlib import Path

import pytest

from lvsdeploy.facts import HostFacts, IpvsDest, IpvsService, IpvsTable
from lvsdeploy.facts.gather import parse
from lvsdeploy.facts.ipvs import parse_rules
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
    return parse((FIXTURES / "director.facts").read_text())


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
    return parse_rules("\n".join(lines))


def converge(args, facts) -> list:
    """Plan, apply with the fake ipvsadm, and return the plan made against the resulting table."""
    changes = ipvs.plan(args, facts)
    facts.ipvs = apply_ipvsadm(facts.ipvs, [c for change in changes for c in change.commands])
    return ipvs.plan(args, facts)


# ---- plan --------------------------------------------------------------------------------------------------


def test_fixture_table_reads_as_the_typed_services():
    # The desired and the current table are the same kind of object: equal means nothing to do.
    assert director().ipvs.services == director_table()


def test_matching_table_gives_no_change():
    assert ipvs.plan({"services": director_table()}, director()) == []


def test_empty_table_when_ip_vs_is_not_loaded():
    services = [IpvsService("TCP", "10.20.0.10", 80, None, "rr", 300,
                            destinations=[IpvsDest("10.20.0.11", 80, 1, "route"),
                                          IpvsDest("10.20.0.12", 80, 3, "route")])]  # fmt: skip
    (change,) = ipvs.plan({"services": services}, HostFacts(ipvs=None))
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
    facts = HostFacts(ipvs=None)
    assert converge({"services": services}, facts) == []
    assert facts.ipvs.services == services


def minimal_edits_wanted() -> list[IpvsService]:
    return [
        IpvsService("TCP", "10.20.0.10", 80, None, "rr",
                    destinations=[IpvsDest("10.20.0.12", 80, 3, "route"), IpvsDest("10.20.0.13", 80, 1, "route")]),
        IpvsService("TCP", "10.20.0.10", 443, None, "rr", 300, "255.255.255.0",
                    destinations=[IpvsDest("10.20.0.11", 443, 2, "tunnel")]),
    ]  # fmt: skip


def test_minimal_edits_and_purge_without_flush():
    changes = {c.resource: c for c in ipvs.plan({"services": minimal_edits_wanted()}, director())}
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
    # purge is the default: services not wanted are deleted one by one, each with its own -D.
    assert changes["ipvs UDP 10.20.0.10:53"].commands == ("ipvsadm -D -u 10.20.0.10:53",)
    assert changes["ipvs FWM 7"].commands == ("ipvsadm -D -f 7",)
    assert changes["ipvs FWM 7"].diff == ("- FWM 7 sh persistent 60", "  - -> 10.20.0.11:0 tunnel weight 1")
    assert changes["ipvs SCTP 10.20.0.10:3868"].commands == ("ipvsadm -D --sctp-service 10.20.0.10:3868",)
    all_commands = [c for change in changes.values() for c in change.commands]
    assert not any(c.split()[1] == "-C" for c in all_commands)
    # a wanted service is never deleted, whatever changed in it
    assert not any(c.startswith("ipvsadm -D -t 10.20.0.10:") for c in all_commands)


def test_purge_false_leaves_other_services():
    args = {"services": director_table()[:1], "purge": False}
    assert ipvs.plan(args, director()) == []
    # With purge (the default) the four other services go.
    purged = ipvs.plan({"services": director_table()[:1]}, director())
    assert [c.commands[0].split()[1] for c in purged] == ["-D"] * 4


def test_purge_false_still_edits_the_listed_services():
    wanted = director_table()[:1]
    wanted[0].destinations.append(IpvsDest("10.20.0.13", 80, 1, "route"))
    (change,) = ipvs.plan({"services": wanted, "purge": "no"}, director())
    assert change.commands == ("ipvsadm -a -t 10.20.0.10:80 -r 10.20.0.13:80 -g -w 1",)


def test_weight_zero_is_an_edit_not_a_removal():
    # Quiescing a real server (weight 0) keeps its connections: -e, never -d.
    wanted = director_table()
    wanted[0].destinations[0] = IpvsDest("10.20.0.11", 80, 0, "route")
    (change,) = ipvs.plan({"services": wanted}, director())
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
    # Idempotence: after the planned edits ran, planning against the table the kernel then holds is empty.
    facts = director()
    args = {"services": wanted, "purge": purge}
    assert ipvs.plan(args, facts) != []
    assert converge(args, facts) == []
    by_key = {s.key: s for s in facts.ipvs.services}
    for service in wanted:
        assert by_key.pop(service.key) == service
    assert (by_key == {}) == purge  # without purge the other services stay


def test_boot_rules_read_back_are_converged():
    # What `ipvsadm -R` restores at boot is the wanted table: planning against it changes nothing.
    new = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc", destinations=[IpvsDest("10.20.0.14", 8080, 1, "route")])
    args = {"services": director_table()[1:3] + [new]}
    assert ipvs.plan(args, director()) != []
    assert ipvs.plan(args, HostFacts(ipvs=parse_rules("\n".join(ipvs.rules_lines(args["services"]))))) == []


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
    assert ipvs.persist({"services": list(reversed(director_table()))}, director()) == expected
    assert ipvs.persist({"services": director_table(), "purge": False}, HostFacts(ipvs=None)) == expected
    assert ipvs.persist({"services": []}, director()) == []


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
    assert ipvs.plan({"services": services}, HostFacts(ipvs=IpvsTable(back))) == []


def test_every_supported_mode_has_an_ipvsadm_method():
    assert {mode.method for mode in MODES.values()} <= set(METHOD_SWITCH)


# ---- arguments ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    ({}, "missing argument"),
    ({"services": None}, "missing argument"),
    ({"services": "TCP 10.20.0.10:80"}, "typed services"),
    ({"services": {"vip": "10.20.0.10", "port": 80}}, "typed services"),
    # the untyped task arguments of old are refused, not re-validated
    ({"services": [{"vip": "10.20.0.10", "port": 80, "destinations": [{"ip": "10.20.0.11"}]}]}, "typed services"),
    ({"services": [IpvsService("TCP", "10.20.0.10", 80, None, "rr"), "x"]}, "typed services"),
    ({"services": [], "purge": "maybe"}, "purge must be true or false"),
    ({"services": [], "flush": True}, "unknown argument"),
])  # fmt: skip
def test_untyped_or_unknown_arguments_are_refused(args, message):
    with pytest.raises(ModuleError, match=message):
        ipvs.facts_needed(args)
    with pytest.raises(ModuleError, match=message):
        ipvs.plan(args, director())
    with pytest.raises(ModuleError, match=message):
        ipvs.persist(args, director())


def test_facts_needed_reads_nothing_extra():
    # The IPVS table is always read.
    request = ipvs.facts_needed({"services": director_table()})
    assert not (request.sysctls or request.files or request.packages or request.units)
