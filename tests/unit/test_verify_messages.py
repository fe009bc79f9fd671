"""The verify suite against fake hosts: an engine rule gone wrong fails with host, check, expected and found."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from lvsdeploy.inventory import load_cluster
from lvsdeploy.verify import test_director as director_suite
from lvsdeploy.verify import test_realserver as realserver_suite
from lvsdeploy.verify.spec import ipvs_rows

FIXTURE = Path(__file__).parent / "fixtures" / "inventories" / "verify" / "cluster.yml"
DR_ARP = {"/proc/sys/net/ipv4/conf/all/arp_ignore": "1", "/proc/sys/net/ipv4/conf/all/arp_announce": "2",
          "/proc/sys/net/ipv4/conf/lo/arp_ignore": "1", "/proc/sys/net/ipv4/conf/lo/arp_announce": "2"}


class FakeHost:
    """A host whose `cat FILE` answers from `files`, and whose other commands print `outputs[command]`."""

    def __init__(self, files: dict[str, str], outputs: dict[str, str] | None = None):
        self.files, self.outputs = files, outputs or {}

    def run(self, command: str):
        path = command.removeprefix("cat ")
        if path in self.files:
            return SimpleNamespace(stdout=self.files[path] + "\n", rc=0)
        return SimpleNamespace(stdout="", rc=1)

    def check_output(self, command: str) -> str:
        return self.outputs[command]


@pytest.fixture(scope="module")
def cluster():
    return load_cluster(FIXTURE)


def test_wrong_arp_announce_names_host_setting_expected_and_found(cluster):
    host = FakeHost({**DR_ARP, "/proc/sys/net/ipv4/conf/all/arp_announce": "1"})
    with pytest.raises(AssertionError) as failed:
        realserver_suite.test_mode_sysctls(cluster.hosts["rs1"], lambda name: host, cluster)
    assert str(failed.value).startswith("rs1: sysctl net.ipv4.conf.all.arp_announce: expected 2, found 1")


def test_right_arp_settings_pass(cluster):
    realserver_suite.test_mode_sysctls(cluster.hosts["rs1"], lambda name: FakeHost(DR_ARP), cluster)


TABLE_AS_INVENTORY = (
    "-A -t 10.20.0.10:80 -s wrr\n"
    "-a -t 10.20.0.10:80 -r 10.20.0.21:80 -g -w 1\n"
    "-a -t 10.20.0.10:80 -r 10.20.0.22:80 -g -w 3\n"
    "-A -u 10.20.0.10:5005 -s rr\n"
    "-a -u 10.20.0.10:5005 -r 10.20.0.21:5005 -g -w 1\n"
    "-a -u 10.20.0.10:5005 -r 10.20.0.22:5005 -g -w 1\n"
    "-A -t 10.20.0.11:443 -s sh -p 300 -M 255.255.255.0\n"
    "-a -t 10.20.0.11:443 -r 10.20.0.21:443 -g -w 0\n"
)


def test_wrong_forwarding_method_names_the_destination(cluster, tmp_path):
    # masq where DR routes
    saved = TABLE_AS_INVENTORY.replace("-r 10.20.0.21:80 -g -w 1", "-r 10.20.0.21:80 -m -w 1")
    host = FakeHost({}, {"ipvsadm -Sn": saved})
    with pytest.raises(AssertionError) as failed:
        director_suite.test_ipvs_table_equals_inventory(cluster.hosts["director1"], lambda name: host, cluster,
                                                        ipvs_rows(cluster))
    assert str(failed.value).startswith(
        "director1: IPVS table: expected the inventory's table, found "
        "missing ['TCP 10.20.0.10:80 -> 10.20.0.21:80 route weight 1'], "
        "extra ['TCP 10.20.0.10:80 -> 10.20.0.21:80 masq weight 1']")

DRAINED_RS2_WEB = "TCP 10.20.0.10:80 10.20.0.22:80 2026-11-30T17:00:00Z"


def test_a_drained_realserver_is_expected_at_weight_0_and_listed(cluster):
    """`lvsdeploy drain` leaves weight 0 and its record: verify expects exactly that, and says so."""
    from lvsdeploy.verify.checks import DRAINED
    drained_table = TABLE_AS_INVENTORY.replace("10.20.0.22:80 -g -w 3", "10.20.0.22:80 -g -w 0")
    host = FakeHost({"/etc/lvsdeploy/drained": DRAINED_RS2_WEB}, {"ipvsadm -Sn": drained_table})
    DRAINED.clear()
    director_suite.test_ipvs_table_equals_inventory(cluster.hosts["director1"], lambda name: host, cluster,
                                                    ipvs_rows(cluster))
    assert DRAINED == ["director1: TCP 10.20.0.10:80 -> 10.20.0.22:80 (rs2) drained since 2026-11-30T17:00:00Z "
                       "(weight 0 until `lvsdeploy undrain`)"]
    # the inventory's weight while the record says drained is a failure, and so is weight 0 with no record
    with pytest.raises(AssertionError):
        director_suite.test_ipvs_table_equals_inventory(
            cluster.hosts["director1"], lambda name: FakeHost({"/etc/lvsdeploy/drained": DRAINED_RS2_WEB},
                                                              {"ipvsadm -Sn": TABLE_AS_INVENTORY}),
            cluster, ipvs_rows(cluster))
    with pytest.raises(AssertionError):
        director_suite.test_ipvs_table_equals_inventory(
            cluster.hosts["director1"], lambda name: FakeHost({}, {"ipvsadm -Sn": drained_table}), cluster,
            ipvs_rows(cluster))
    DRAINED.clear()
