"""fwmark_ports: the inventory names the VIP's ports to mark, lvsdeploy writes the marks in its own mangle chain
(read, planned, removed and restored at boot like FULLNAT's chain), and validate keeps a marked port to one
service."""

import subprocess

import pytest

from lvsdeploy.desired import fwmark_rules
from lvsdeploy.facts.gather import build_command, parse
from lvsdeploy.facts.netfilter import FWMARK, ChainFacts, parse_chain
from lvsdeploy.inventory import load_cluster
from lvsdeploy.modules import fwmark_marks
from lvsdeploy.modules.base import FactsRequest, ModuleError

from test_modules_snat import FIXTURES
from test_validate import check, one, services

WEB = {"vip": "192.168.100.10", "protocol": "tcp", "ports": [8009, 8010], "mark": 1}
DNS = {"vip": "192.168.100.10", "protocol": "udp", "ports": [53], "mark": 255}
# what `iptables -t mangle -S LVSDEPLOY-FWMARK` printed on the NAT lab's director (iptables 1.8.9, nf_tables)
# after loading these two rules, and the PREROUTING jump
LAB_OUTPUT = """-N LVSDEPLOY-FWMARK
-A LVSDEPLOY-FWMARK -d 192.168.100.10/32 -p tcp -m multiport --dports 8009,8010 -j MARK --set-xmark 0x1/0xffffffff
-A LVSDEPLOY-FWMARK -d 192.168.100.10/32 -p udp -m multiport --dports 53 -j MARK --set-xmark 0xff/0xffffffff
-A PREROUTING -j LVSDEPLOY-FWMARK
"""


def facts(text: str = ""):
    result = parse((FIXTURES / "director.facts").read_text())
    result.fwmark = parse_chain(FWMARK, text)
    return result


def test_the_lab_output_is_read_as_the_rules_we_write():
    chain = parse_chain(FWMARK, LAB_OUTPUT)
    assert chain.exists and chain.jumps == 1 and len(chain.rules) == 2
    assert fwmark_marks.plan({"rules": [WEB, DNS]}, facts(LAB_OUTPUT)) == []


def test_facts_read_the_mangle_chain_only_when_a_table_can_exist():
    script = build_command(FactsRequest(netfilter=True))
    listing = f"-t mangle -S {FWMARK.name}"
    assert listing in script
    guard = script.rindex("/sys/module/nf_tables", 0, script.index(listing))
    assert "/sys/module/iptable_mangle" in script[guard:script.index(listing)]
    assert FWMARK.name not in build_command(FactsRequest())
    assert parse((FIXTURES / "director.facts").read_text()).fwmark == ChainFacts()


def test_missing_chain_is_loaded_in_one_transaction_then_jumped_to_first():
    load, jump = fwmark_marks.plan({"rules": [WEB, DNS]}, facts())
    assert load.resource == f"netfilter mangle chain {FWMARK.name}"
    assert load.diff == tuple(f"+ {line}" for line in LAB_OUTPUT.splitlines()[1:3])
    printed = subprocess.run(["sh", "-c", load.commands[0].replace("iptables-restore -w 10 --noflush", "cat")],
                             capture_output=True, text=True, check=True).stdout.splitlines()
    assert printed == ["*mangle", f":{FWMARK.name} - [0:0]", *LAB_OUTPUT.splitlines()[1:3], "COMMIT"]
    assert jump.diff == (f"+ PREROUTING -j {FWMARK.name}",)
    assert jump.commands == (f"iptables -w 10 -t mangle -C PREROUTING -j {FWMARK.name} 2>/dev/null || "
                             f"iptables -w 10 -t mangle -I PREROUTING 1 -j {FWMARK.name}",)


def test_a_changed_port_list_reloads_the_chain():
    (load,) = fwmark_marks.plan({"rules": [{**WEB, "ports": [8009, 8010, 8011]}, DNS]}, facts(LAB_OUTPUT))
    assert load.diff == (f"- {LAB_OUTPUT.splitlines()[1]}",
                         f"+ {LAB_OUTPUT.splitlines()[1].replace('8009,8010', '8009,8010,8011')}")


def test_no_marks_wanted_removes_the_jump_then_the_chain():
    (change,) = fwmark_marks.plan({"rules": []}, facts(LAB_OUTPUT))
    assert change.diff[-1] == f"- PREROUTING -j {FWMARK.name}" and len(change.diff) == 3
    assert "-t mangle -D PREROUTING" in change.commands[0] and "-X" in change.commands[1]
    assert fwmark_marks.plan({"rules": []}, facts()) == []


def test_the_boot_script_loads_the_chain_then_the_jump():
    lines = fwmark_marks.persist({"rules": [WEB]}, facts())
    assert [kind for kind, _ in lines] == ["network", "network"]
    assert "*mangle" in lines[0][1] and "-I PREROUTING 1" in lines[1][1]
    assert fwmark_marks.persist({"rules": []}, facts()) == []


@pytest.mark.parametrize("bad,why", [
    ({**WEB, "vip": "10.0.0.1; reboot"}, "vip must be an IPv4 address"),
    ({**WEB, "ports": [80, "443; reboot"]}, "each port must be an integer"),
    ({**WEB, "ports": list(range(1, 17))}, "ports must be a list of 1 to 15 ports"),
    ({**WEB, "ports": []}, "ports must be a list of 1 to 15 ports"),
    ({**WEB, "mark": 0}, "mark must be an integer between 1 and 4294967295"),
    ({**WEB, "mark": "1 -j ACCEPT"}, "mark must be an integer"),
    ({**WEB, "protocol": "icmp"}, "protocol must be one of tcp, udp, sctp"),
    ({**WEB, "extra": 1}, "unknown argument(s): extra"),
])
def test_hostile_rules_are_refused(bad, why):
    with pytest.raises(ModuleError) as error:
        fwmark_marks.plan({"rules": [bad]}, facts())
    assert why in str(error.value)


# ---- the inventory ------------------------------------------------------------------------------------

def group(**fields):
    """BASE's service `web` turned into a fwmark service marking 80 and 443."""
    return lambda inv: services(inv)[0].update({"fwmark": 1, "port": None, "fwmark_ports": [80, 443],
                                                "persistence": 300, **fields})


def test_a_marked_group_is_valid_and_every_director_marks_it(tmp_path):
    assert check(tmp_path, group()) == []
    cluster = load_cluster(tmp_path / "lab.yml")
    assert fwmark_rules(cluster) == [{"vip": "10.20.0.10", "protocol": "tcp", "ports": [80, 443], "mark": 1}]
    assert [rs.port for rs in cluster.services[0].realservers] == [0, 0]   # each packet keeps its port


@pytest.mark.parametrize("fields,what", [
    ({"fwmark": None, "port": 80}, "set fwmark too"),
    ({"fwmark_ports": [80, 443, 80]}, "lists 80 twice"),
    ({"fwmark_ports": list(range(8000, 8016))}, "most 15"),
    ({"fwmark_ports": [80, 0]}, "between 1 and 65535"),
])
def test_bad_port_lists_are_refused_at_the_key(tmp_path, fields, what):
    found = check(tmp_path, group(**fields))
    assert len(found) == 1 and "service web" in found[0].where and "fwmark_ports" in found[0].where, found
    assert what in found[0].what


def test_a_port_marked_twice_is_refused(tmp_path):
    def change(inv):
        group()(inv)
        services(inv).append({"name": "tls", "vip": "10.20.0.10", "fwmark": 2, "fwmark_ports": [443],
                              "mode": "dr", "realservers": [{"host": "rs1"}]})
    one(check(tmp_path, change), "service tls: fwmark_ports[0]", "tcp 10.20.0.10:443 is marked by service web")


def test_a_plain_service_on_a_marked_port_is_refused(tmp_path):
    def change(inv):
        group()(inv)
        services(inv).append({"name": "tls", "vip": "10.20.0.10", "port": 443, "mode": "dr",
                              "realservers": [{"host": "rs1"}]})
    one(check(tmp_path, change), "service tls: port", "go to that service, never to this one")


def test_the_same_port_over_udp_or_another_vip_is_not_a_conflict(tmp_path):
    def change(inv):
        group()(inv)
        services(inv).append({"name": "dns", "vip": "10.20.0.10", "port": 443, "protocol": "udp", "mode": "dr",
                              "realservers": [{"host": "rs1"}]})
        services(inv).append({"name": "other", "vip": "10.20.0.30", "port": 80, "mode": "dr",
                              "realservers": [{"host": "rs1"}]})
    assert check(tmp_path, change) == []


def test_a_persistent_nat_group_cannot_map_ports(tmp_path):
    """The lab showed it: with persistence IPVS sent a connection to VIP:8009 on to RIP:8009, not to the real
    server's port 80; without persistence it maps them."""
    persistent = group(mode="nat", realservers=[{"host": "rs1", "port": 80}, {"host": "rs2"}])
    one(check(tmp_path, persistent), "service web: realservers[0].port", "80 would never be used")
    # a port the real servers took from the service is shown at the service's port, once
    one(check(tmp_path, group(mode="nat", port=80)), "service web: port", "leave the port out and let rs1 listen")
    # one marked port kept as it is: nothing to map, nothing wrong
    assert check(tmp_path, group(mode="nat", port=80, fwmark_ports=[80])) == []
    assert check(tmp_path, group(mode="nat", persistence=None, realservers=[{"host": "rs1", "port": 80}])) == []
    assert check(tmp_path, group(mode="nat")) == []


def test_validate_json_shows_the_group_flags_and_thresholds(tmp_path, capsys):
    """What IPVS is told besides name, mode and scheduler: new keys within lvsdeploy.validate/1."""
    import json
    from pathlib import Path

    import jsonschema

    from lvsdeploy import cli

    def change(inv):
        group(realservers=[{"host": "rs1", "upper_threshold": 300, "lower_threshold": 200}, {"host": "rs2"}])(inv)
        services(inv).append({"name": "hashed", "vip": "10.20.0.10", "port": 8080, "mode": "dr", "scheduler": "sh",
                              "scheduler_flags": ["sh-port"], "realservers": [{"host": "rs1"}]})
    assert check(tmp_path, change) == []
    assert cli.main(["validate", "--format", "json", str(tmp_path / "lab.yml")]) == 0
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, json.loads((Path(cli.__file__).parent / "schemas" / "validate-1.json").read_text()))
    web, hashed = document["services"]
    assert (web["fwmark"], web["fwmark_ports"], web["port"], web["persistence"]) == (1, [80, 443], None, 300)
    assert [(r["upper_threshold"], r["lower_threshold"]) for r in web["realservers"]] == [(300, 200), (None, None)]
    assert (hashed["scheduler_flags"], hashed["port"], hashed["fwmark"]) == (["sh-port"], 8080, None)


def test_verify_counts_a_fwmark_service_by_its_mark_and_asks_every_marked_port():
    """verify's traffic check: connections of `FWM 1` per real server (not of a TCP service on a marked port),
    and the ports a client uses are the marked ones."""
    from types import SimpleNamespace

    from lvsdeploy.verify.checks import _service_column
    from lvsdeploy.verify.test_traffic import ports

    stats = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.168.100.10:80                   4       20       16     1200     1800
  -> 10.10.0.11:80                       2       10        8      600      900
  -> 10.10.0.12:80                       2       10        8      600      900
FWM  1                                   6       30       24     1800     2700
  -> 10.10.0.11:0                        5       25       20     1500     2250
  -> 10.10.0.12:0                        1        5        4      300      450
"""
    assert _service_column(stats, "192.168.100.10", None, "tcp", 1, 1) == {"10.10.0.11:0": 5, "10.10.0.12:0": 1}
    assert _service_column(stats, "192.168.100.10", 80, "tcp", 1) == {"10.10.0.11:80": 2, "10.10.0.12:80": 2}
    assert ports(SimpleNamespace(fwmark_ports=[8009, 8010], port=None)) == [8009, 8010]
    assert ports(SimpleNamespace(fwmark_ports=[], port=80)) == [80]
    assert ports(SimpleNamespace(fwmark_ports=[], port=None)) == []
