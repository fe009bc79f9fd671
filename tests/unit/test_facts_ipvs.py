"""The IPVS table from `ipvsadm -Sn`, and the cases where there is no table to read."""

from pathlib import Path

from lvsdeploy.facts import IpvsDest
from lvsdeploy.facts.gather import split_sections
from lvsdeploy.facts.ipvs import parse_ipvs, parse_rules

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def table():
    parsed, note = parse_ipvs(split_sections((FIXTURES / "director.facts").read_text())["ipvs"])
    assert note is None
    return {s.label: s for s in parsed.services}


def test_plain_service_and_direct_routing_destinations():
    http = table()["TCP 10.20.0.10:80"]
    assert (http.scheduler, http.persistence, http.netmask) == ("rr", None, None)
    assert http.destinations == [IpvsDest("10.20.0.11", 80, 1, "route"), IpvsDest("10.20.0.12", 80, 1, "route")]


def test_persistence_netmask_masq_and_port_mapping():
    services = table()
    https = services["TCP 10.20.0.10:443"]
    assert (https.scheduler, https.persistence, https.netmask) == ("wlc", 300, "255.255.255.0")
    assert services["UDP 10.20.0.10:53"].destinations == [IpvsDest("10.30.0.11", 5353, 1, "masq")]


def test_fwmark_tunnel_with_tun_type_and_sctp_without_destinations():
    services = table()
    fwm = services["FWM 7"]
    assert (fwm.vip, fwm.port, fwm.fwmark, fwm.persistence) == (None, None, 7, 60)
    assert fwm.destinations == [IpvsDest("10.20.0.11", 0, 1, "tunnel")]  # --tun-type ipip is skipped
    assert services["SCTP 10.20.0.10:3868"].destinations == []


def test_full_netmask_reads_as_default():
    (service,) = parse_rules("-A -t 10.0.0.1:80 -s sh -p 120 -M 255.255.255.255\n").services
    assert service.netmask is None


def test_no_table_cases_carry_a_note():
    assert parse_ipvs("state not-loaded")[0] is None
    table_, note = parse_ipvs("state no-ipvsadm")
    assert table_ is None and "not installed" in note
    table_, note = parse_ipvs("state error\nCan't initialize ipvs: Permission denied (you must be root)")
    assert table_ is None and "Permission denied" in note


def test_empty_table():
    assert parse_ipvs("state ok\n")[0].services == []
