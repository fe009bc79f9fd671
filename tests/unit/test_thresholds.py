"""Real-server connection thresholds (upper_threshold/lower_threshold, ipvsadm -x/-y): validated, read back
from `ipvsadm -Ln --thresholds` (which `ipvsadm -Sn` leaves out), changed with -e, saved for boot, and handed
to keepalived (ldirectord cannot express them)."""

import copy

from lvsdeploy.facts import IpvsDest, IpvsService, IpvsTable
from lvsdeploy.facts.gather import parse
from lvsdeploy.facts.ipvs import parse_thresholds, with_thresholds
from lvsdeploy.modules import ipvs

from test_checker_roles import block, inventory, rendered
from test_modules_ipvs import FIXTURES, args, ours
from test_validate import check, line_of, one, services

LISTING = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn
  -> RemoteAddress:Port
TCP  10.20.0.10:80 rr
  -> 10.20.0.11:80                0          0          0          0
  -> 10.20.0.12:80                5          2          1          3
TCP  10.20.0.10:443 wlc persistent 300 mask 255.255.255.0
  -> 10.20.0.12:443               40         0          0          0
FWM  7 sh persistent 60
  -> 10.20.0.11:0                 9          3          0          0
UDP  10.20.0.10:53 rr
  -> 10.30.0.11:5353              4          0          0          0
"""


def test_listing_gives_the_thresholds_of_each_real_server_that_has_one():
    assert parse_thresholds(LISTING) == {
        (("TCP", "10.20.0.10", 80), "10.20.0.12", 80): (5, 2),
        (("TCP", "10.20.0.10", 443), "10.20.0.12", 443): (40, 0),
        (("FWM", 7), "10.20.0.11", 0): (9, 3),
        (("UDP", "10.20.0.10", 53), "10.30.0.11", 5353): (4, 0),
    }
    assert parse_thresholds("") == {}


def test_thresholds_join_the_table_read_from_ipvsadm_save():
    table = IpvsTable([IpvsService("TCP", "10.20.0.10", 80, None, "rr", destinations=[
        IpvsDest("10.20.0.11", 80, 1, "route"), IpvsDest("10.20.0.12", 80, 1, "route")])])
    with_thresholds(table, LISTING)
    assert table.services[0].destinations == [IpvsDest("10.20.0.11", 80, 1, "route"),
                                              IpvsDest("10.20.0.12", 80, 1, "route", 5, 2)]
    assert with_thresholds(None, LISTING) is None   # no table (ip_vs not loaded): nothing to join


def test_the_facts_of_a_director_carry_its_thresholds():
    # the director fixture as read, with the UDP real server given thresholds in its --thresholds listing
    text = (FIXTURES / "director.facts").read_text()
    row = "  -> 10.30.0.11:5353              0          0"
    assert row in text
    facts = parse(text.replace(row, "  -> 10.30.0.11:5353              4          3"))
    udp = next(s for s in facts.ipvs.services if s.protocol == "UDP")
    assert udp.destinations == [IpvsDest("10.30.0.11", 5353, 1, "masq", 4, 3)]
    assert all(d.upper == 0 for s in facts.ipvs.services if s.protocol != "UDP" for d in s.destinations)


def with_rs1_thresholds(upper: int, lower: int = 0) -> list[IpvsService]:
    from test_modules_ipvs import director_table
    wanted = director_table()
    wanted[0].destinations[0] = IpvsDest("10.20.0.11", 80, 1, "route", upper, lower)
    return wanted


def test_a_new_threshold_is_an_edit_with_x_and_y():
    (change,) = ipvs.plan(args(with_rs1_thresholds(200, 150)), ours())
    assert change.diff == ("  TCP 10.20.0.10:80 rr", "  ~ -> 10.20.0.11:80 no thresholds -> thresholds 200/150")
    assert change.commands == ("ipvsadm -e -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1 -x 200 -y 150",)


def test_a_threshold_left_out_is_cleared_by_an_edit_without_x():
    facts = ours()
    facts.ipvs.services[0].destinations[0] = IpvsDest("10.20.0.11", 80, 1, "route", 200, 150)
    (change,) = ipvs.plan(args(with_rs1_thresholds(0)), facts)
    assert change.diff[1] == "  ~ -> 10.20.0.11:80 thresholds 200/150 -> no thresholds"
    assert change.commands == ("ipvsadm -e -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1",)


def test_the_same_thresholds_are_no_change_and_boot_rules_keep_them():
    facts = ours()
    facts.ipvs.services[0].destinations[0] = IpvsDest("10.20.0.11", 80, 1, "route", 200, 0)
    assert ipvs.plan(args(with_rs1_thresholds(200)), facts) == []
    lines = [line for _, line in ipvs.persist(args(with_rs1_thresholds(200)), facts)]
    assert "-a -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1 -x 200" in lines


def thresholds(**values):
    def change(inv):
        services(inv)[0]["realservers"][0].update(values)
    return change


def test_thresholds_are_validated_at_their_line(tmp_path):
    assert check(tmp_path, thresholds(upper_threshold=100, lower_threshold=80)) == []
    assert check(tmp_path, thresholds(upper_threshold=100)) == []
    problem = one(check(tmp_path, thresholds(lower_threshold=80)), "service web: realservers[0]",
                  "lower_threshold: only takes effect with upper_threshold")
    assert problem.line == line_of(tmp_path, "- host")   # the real server the two keys belong to
    one(check(tmp_path, thresholds(upper_threshold=10, lower_threshold=10)), "service web: realservers[0]",
        "lower_threshold: 10 must be below upper_threshold (10)")
    one(check(tmp_path, thresholds(upper_threshold=0)), "service web: realservers[0].upper_threshold",
        "between 1 and 2147483647")
    one(check(tmp_path, thresholds(upper_threshold="100; reboot")), "service web: realservers[0].upper_threshold",
        "between 1 and 2147483647")


def dns_with_thresholds(checker: str) -> dict:
    data = inventory(checker)
    dns = next(s for s in data["all"]["vars"]["lvs_virtual_services"] if s["name"] == "dns")
    dns["realservers"][1].update(upper_threshold=500, lower_threshold=400)
    return data


def test_keepalived_sets_uthreshold_and_lthreshold(tmp_path):
    data = dns_with_thresholds("keepalived")
    conf = rendered(tmp_path, "keepalived", data["all"]["vars"]["lvs_virtual_services"])
    dns = "\n".join(block(conf, "virtual_server 10.20.0.10 53"))
    assert block(dns, "real_server 10.20.0.12 53")[1:4] == ["weight 1", "uthreshold 500", "lthreshold 400"]
    assert "uthreshold" not in " ".join(block(dns, "real_server 10.20.0.11 53"))


def test_ldirectord_refuses_thresholds(tmp_path):
    data = dns_with_thresholds("ldirectord")
    (svc,) = [copy.deepcopy(s) for s in data["all"]["vars"]["lvs_virtual_services"] if s["name"] == "dns"]

    def change(inv):
        inv["all"]["vars"]["lvs_health_checker"] = "ldirectord"
        services(inv)[:] = [svc | {"realservers": [{"host": "rs1"}, svc["realservers"][1]]}]
    found = check(tmp_path, change)
    assert sorted(p.where for p in found) == ["service dns: realservers[1].lower_threshold",
                                              "service dns: realservers[1].upper_threshold"]
    assert all("ldirectord cannot set connection thresholds" in p.what for p in found)


def test_the_guards_awk_program_and_threshold_rows_print_the_same_rows():
    """The apply guard runs THRESHOLD_ROWS_AWK on the host; the plan hashes threshold_rows of the facts: both must
    give the same rows, for every kind of service (FWM included) and with the trailing blanks ipvsadm prints."""
    import subprocess

    from lvsdeploy.facts.ipvs import THRESHOLD_ROWS_AWK, threshold_rows

    listing = "\n".join(f"{line}   " for line in LISTING.splitlines()) + "\n"
    labels = ["FWM 7 ", "TCP 10.20.0.10:80 ", "UDP 10.20.0.10:53 "]
    patterns = " ".join(f"-e '{label}'" for label in labels)
    by_awk = subprocess.run(["sh", "-c", f"{THRESHOLD_ROWS_AWK} | grep -F {patterns}"], input=listing,
                            capture_output=True, text=True, check=True).stdout
    assert by_awk == threshold_rows(listing, labels) == (
        "TCP 10.20.0.10:80 10.20.0.11:80 0 0\nTCP 10.20.0.10:80 10.20.0.12:80 5 2\nFWM 7 10.20.0.11:0 9 3\n"
        "UDP 10.20.0.10:53 10.30.0.11:5353 4 0\n")
