"""ipvs: minimal ipvsadm edits against the live table, never a flush; rules file text."""

from pathlib import Path

import pytest

from lvsdeploy.facts import HostFacts
from lvsdeploy.facts.gather import parse
from lvsdeploy.facts.ipvs import parse_rules
from lvsdeploy.modules import ipvs
from lvsdeploy.modules.base import ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"

# Exactly what the director fixture's `ipvsadm -Sn` holds, written as task arguments.
DIRECTOR_TABLE = [
    {"vip": "10.20.0.10", "port": 80, "scheduler": "rr",
     "destinations": [{"ip": "10.20.0.11"}, {"ip": "10.20.0.12", "method": "route", "weight": 1}]},
    {"vip": "10.20.0.10", "port": 443, "scheduler": "wlc", "persistence": 300, "netmask": 24,
     "destinations": [{"ip": "10.20.0.11", "weight": 2}]},
    {"protocol": "udp", "vip": "10.20.0.10", "port": 53, "scheduler": "rr",
     "destinations": [{"ip": "10.30.0.11", "port": 5353, "method": "masq"}]},
    {"fwmark": 7, "scheduler": "sh", "persistence": 60, "destinations": [{"ip": "10.20.0.11", "method": "tunnel"}]},
    {"protocol": "sctp", "vip": "10.20.0.10", "port": 3868, "scheduler": "rr"},
]  # fmt: skip


def director():
    return parse((FIXTURES / "director.facts").read_text())


def test_matching_table_gives_no_change():
    assert ipvs.plan({"services": DIRECTOR_TABLE}, director()) == []


def test_empty_table_when_ip_vs_is_not_loaded():
    services = [{"vip": "10.20.0.10", "port": 80, "scheduler": "rr", "persistence": 300,
                 "destinations": [{"ip": "10.20.0.11"}, {"ip": "10.20.0.12", "weight": 3}]}]  # fmt: skip
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


def test_minimal_edits_and_purge_without_flush():
    wanted = [
        {"vip": "10.20.0.10", "port": 80, "scheduler": "rr",
         "destinations": [{"ip": "10.20.0.12", "weight": 3}, {"ip": "10.20.0.13"}]},
        {"vip": "10.20.0.10", "port": 443, "scheduler": "rr", "persistence": 300, "netmask": "255.255.255.0",
         "destinations": [{"ip": "10.20.0.11", "weight": 2, "method": "tunnel"}]},
    ]  # fmt: skip
    changes = {c.resource: c for c in ipvs.plan({"services": wanted}, director())}
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
    assert https.commands == (
        "ipvsadm -E -t 10.20.0.10:443 -s rr -p 300 -M 255.255.255.0",
        "ipvsadm -e -t 10.20.0.10:443 -r 10.20.0.11:443 -i -w 2",
    )
    assert changes["ipvs UDP 10.20.0.10:53"].commands == ("ipvsadm -D -u 10.20.0.10:53",)
    assert changes["ipvs FWM 7"].commands == ("ipvsadm -D -f 7",)
    assert changes["ipvs SCTP 10.20.0.10:3868"].commands == ("ipvsadm -D --sctp-service 10.20.0.10:3868",)
    assert not any("-C" in c for change in changes.values() for c in change.commands)


def test_purge_false_leaves_other_services():
    args = {"services": DIRECTOR_TABLE[:1], "purge": False}
    assert ipvs.plan(args, director()) == []


def test_applied_table_read_back_is_converged():
    # The rules text is what `ipvsadm -Sn` prints once the plan ran; planning against it changes nothing.
    new = {"vip": "10.20.0.10", "port": 8080, "destinations": [{"ip": "10.20.0.14"}]}
    args = {"services": DIRECTOR_TABLE[1:3] + [new]}
    assert ipvs.plan(args, director()) != []
    assert ipvs.plan(args, HostFacts(ipvs=parse_rules(ipvs.rules_text(args["services"])))) == []


def test_rules_text_is_sorted_and_deterministic():
    text = ipvs.rules_text(list(reversed(DIRECTOR_TABLE)))
    assert text == (
        "-A --sctp-service 10.20.0.10:3868 -s rr\n"
        "-A -t 10.20.0.10:80 -s rr\n"
        "-a -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1\n"
        "-a -t 10.20.0.10:80 -r 10.20.0.12:80 -g -w 1\n"
        "-A -t 10.20.0.10:443 -s wlc -p 300 -M 255.255.255.0\n"
        "-a -t 10.20.0.10:443 -r 10.20.0.11:443 -g -w 2\n"
        "-A -u 10.20.0.10:53 -s rr\n"
        "-a -u 10.20.0.10:53 -r 10.30.0.11:5353 -m -w 1\n"
        "-A -f 7 -s sh -p 60\n"
        "-a -f 7 -r 10.20.0.11:0 -i -w 1\n"
    )
    assert ipvs.scheduler_modules(DIRECTOR_TABLE) == ["ip_vs_rr", "ip_vs_sh", "ip_vs_wlc"]


@pytest.mark.parametrize(
    "service, message",
    [
        ({"vip": "10.0.0.1", "port": 80, "destinations": [{"ip": "10.0.0.2", "port": 8080}]}, "only method masq maps"),
        ({"vip": "10.20.0.10", "port": 80, "netmask": 24}, "set persistence"),
        ({"vip": "10.20.0.10", "port": 80, "scheduler": "fastest"}, "scheduler must be one of"),
        ({"vip": "10.20.0.10"}, "vip and port"),
        ({"vip": "10.0.0.1", "port": 80, "destinations": [{"ip": "10.0.0.2", "method": "bridge"}]}, "masq or tunnel"),
    ],
)
def test_invalid_services_are_refused(service, message):
    with pytest.raises(ModuleError, match=message):
        ipvs.facts_needed({"services": [service]})


def test_duplicate_service_is_refused():
    with pytest.raises(ModuleError, match="defined twice"):
        ipvs.facts_needed({"services": [DIRECTOR_TABLE[0], DIRECTOR_TABLE[0]]})
