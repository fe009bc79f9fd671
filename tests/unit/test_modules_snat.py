"""snat (FULLNAT's source NAT): lvsdeploy's own nat chain read, planned, removed and restored at boot."""

import subprocess
from pathlib import Path

import pytest

from lvsdeploy.facts.gather import build_command, parse
from lvsdeploy.facts.netfilter import CHAIN, ChainFacts, parse_snat, snat_snippet
from lvsdeploy.modules import snat
from lvsdeploy.modules.base import FactsRequest, ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
WEB = {"vip": "192.168.100.10", "port": 80, "protocol": "tcp", "to": "10.10.0.1"}
DNS = {"vip": "192.168.100.10", "port": 5005, "protocol": "udp", "to": "10.10.0.1"}
# what `iptables -t nat -S LVSDEPLOY-FULLNAT` and the POSTROUTING jump printed on the NAT lab's director
# (iptables 1.8.9, nf_tables) after an apply of the lab's services in fullnat mode
LAB_OUTPUT = """-N LVSDEPLOY-FULLNAT
-A LVSDEPLOY-FULLNAT -m ipvs --vproto 6 --vaddr 192.168.100.10 --vport 80 --vdir ORIGINAL -j SNAT --to-source 10.10.0.1
-A LVSDEPLOY-FULLNAT -m ipvs --vproto 17 --vaddr 192.168.100.10 --vport 5005 --vdir ORIGINAL -j SNAT --to-source 10.10.0.1
-A POSTROUTING -j LVSDEPLOY-FULLNAT
"""


def facts(text: str = ""):
    result = parse((FIXTURES / "director.facts").read_text())
    result.snat = parse_snat(text)
    return result


def test_the_lab_output_is_read_as_the_rules_we_write():
    chain = parse_snat(LAB_OUTPUT)
    assert chain.exists and chain.jumps == 1 and len(chain.rules) == 2
    assert snat.plan({"rules": [WEB, DNS]}, facts(LAB_OUTPUT)) == []


def test_facts_are_read_only_when_asked_and_never_load_a_module():
    assert snat_snippet(False) == ""
    assert snat.facts_needed({"rules": []}) == FactsRequest(netfilter=True)
    script = build_command(FactsRequest(netfilter=True))
    assert f"iptables -w 5 -t nat -S {CHAIN}" in script
    # listing with no netfilter module loaded would load one: the reader looks at /sys/module first
    assert "/sys/module/nf_nat" in script and script.index("/sys/module/nf_nat") < script.index("-t nat -S")
    assert CHAIN not in build_command(FactsRequest())
    assert parse((FIXTURES / "director.facts").read_text()).snat == ChainFacts()


def test_missing_chain_is_loaded_in_one_transaction_then_jumped_to_first():
    load, jump = snat.plan({"rules": [WEB, DNS]}, facts())
    assert load.diff == tuple(f"+ {line}" for line in LAB_OUTPUT.splitlines()[1:3])
    (command,) = load.commands
    assert command.endswith("| iptables-restore -w 10 --noflush")
    assert jump.diff == (f"+ POSTROUTING -j {CHAIN}",)
    assert jump.commands == (f"iptables -w 10 -t nat -C POSTROUTING -j {CHAIN} 2>/dev/null || "
                             f"iptables -w 10 -t nat -I POSTROUTING 1 -j {CHAIN}",)


def test_the_restore_input_is_the_chain_declared_then_its_rules():
    (load, _) = snat.plan({"rules": [WEB, {**WEB, "vip": "192.168.100.11"}]}, facts())
    printed = subprocess.run(["sh", "-c", load.commands[0].replace("iptables-restore -w 10 --noflush", "cat")],
                             capture_output=True, text=True, check=True).stdout.splitlines()
    assert printed[:2] == ["*nat", f":{CHAIN} - [0:0]"] and printed[-1] == "COMMIT"
    assert printed[2:4] == [line[2:] for line in load.diff]


def test_a_hand_made_rule_in_our_chain_and_a_lost_jump_are_repaired():
    text = LAB_OUTPUT.replace("-A POSTROUTING -j LVSDEPLOY-FULLNAT\n", f"-A {CHAIN} -j RETURN\n")
    load, jump = snat.plan({"rules": [WEB, DNS]}, facts(text))
    assert load.diff == (f"- -A {CHAIN} -j RETURN",)
    assert jump.diff == (f"+ POSTROUTING -j {CHAIN}",)


def test_a_second_jump_is_removed():
    (jump,) = snat.plan({"rules": [WEB, DNS]}, facts(LAB_OUTPUT + f"-A POSTROUTING -j {CHAIN}\n"))
    assert jump.commands[0] == f"iptables -w 10 -t nat -D POSTROUTING -j {CHAIN}"


def test_no_rules_wanted_removes_the_jump_then_the_chain():
    (change,) = snat.plan({"rules": []}, facts(LAB_OUTPUT))
    assert change.diff[-1] == f"- POSTROUTING -j {CHAIN}" and len(change.diff) == 3
    assert "-D POSTROUTING" in change.commands[0] and "-X" in change.commands[1]
    assert snat.plan({"rules": []}, facts()) == []
    assert snat.plan({"rules": []}, facts("@noiptables")) == []


def test_without_iptables_the_chain_is_planned_after_its_package():
    load, jump = snat.plan({"rules": [WEB]}, facts("@noiptables"))
    assert load.diff == (f"+ {LAB_OUTPUT.splitlines()[1]}",)


@pytest.mark.parametrize("bad,why", [
    ({**WEB, "vip": "10.0.0.1; reboot"}, "vip must be an IPv4 address"),
    ({**WEB, "to": "$(reboot)"}, "to must be an IPv4 address"),
    ({**WEB, "port": True}, "port must be an integer"),
    ({**WEB, "port": 0}, "port must be an integer"),
    ({**WEB, "protocol": "icmp"}, "protocol must be one of tcp, udp, sctp"),
    ({**WEB, "extra": 1}, "unknown argument(s): extra"),
    ("-j ACCEPT", "each rule must be a mapping"),
])
def test_hostile_rules_are_refused(bad, why):
    with pytest.raises(ModuleError) as error:
        snat.plan({"rules": [bad]}, facts())
    assert why in str(error.value)


def test_the_boot_script_loads_the_chain_then_the_jump():
    lines = snat.persist({"rules": [WEB]}, facts())
    assert [kind for kind, _ in lines] == ["network", "network"]
    assert lines[0][1].endswith("iptables-restore -w 10 --noflush") and "-I POSTROUTING 1" in lines[1][1]
    assert snat.persist({"rules": []}, facts()) == []
