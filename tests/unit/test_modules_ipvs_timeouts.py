"""ipvs_timeouts: `ipvsadm --set` for the timeouts the inventory sets, read back from `ipvsadm -L --timeout`."""

import pytest

from lvsdeploy.facts import HostFacts
from lvsdeploy.facts.ipvs import parse_timeouts
from lvsdeploy.modules import ipvs_timeouts
from lvsdeploy.modules.base import ModuleError


def facts(tcp=900, tcpfin=120, udp=300):
    return HostFacts(ipvs_timeouts={"tcp": tcp, "tcpfin": tcpfin, "udp": udp})


def test_the_kernel_answer_is_read():
    assert parse_timeouts("Timeout (tcp tcpfin udp): 900 120 300\n") == {"tcp": 900, "tcpfin": 120, "udp": 300}
    assert parse_timeouts("") is None
    assert parse_timeouts("Timeout (tcp tcpfin udp): 900 x 300") is None


def test_only_the_timeouts_set_are_compared_and_the_others_left_as_they_are():
    assert ipvs_timeouts.plan({"tcp": 900}, facts()) == []
    (change,) = ipvs_timeouts.plan({"tcp": 900, "udp": 60}, facts())
    assert change.diff == ("~ udp: 300 -> 60",)
    assert change.commands == ("ipvsadm --set 900 0 60",)
    assert ipvs_timeouts.plan({}, facts()) == [] and ipvs_timeouts.persist({}, facts()) == []


def test_unknown_before_ip_vs_is_loaded_is_written():
    (change,) = ipvs_timeouts.plan({"tcpfin": 30}, HostFacts())
    assert change.diff == ("~ tcpfin: <unknown> -> 30",) and change.commands == ("ipvsadm --set 0 30 0",)


def test_at_boot_the_same_command():
    assert ipvs_timeouts.persist({"tcp": 7200, "udp": None}, facts()) == [("network", "ipvsadm --set 7200 0 0")]


@pytest.mark.parametrize("args", [{"tcp": 0}, {"tcp": True}, {"udp": "60; reboot"}, {"tcp": 2147484}, {"sctp": 5}])
def test_hostile_values_are_refused(args):
    with pytest.raises(ModuleError):
        ipvs_timeouts.plan(args, facts())
