"""Director failover (lvsdeploy/failover.py): VRRP priorities and the order directors are applied in, the
vrrp_instance each director's keepalived.conf gets (accepted by the real `keepalived -t` once the file module has
filled in the devices), and what failover changes in the desired state of directors and NAT real servers.

The validation rules are in test_validate.py, the file module's `devices` in test_modules_file.py, and the engine's
one-director-at-a-time apply in test_engine_phases.py.
"""

import base64
import copy
import shutil
import subprocess
from ipaddress import IPv4Interface
from pathlib import Path

import pytest
import yaml

from lvsdeploy import checkers, failover, model
from lvsdeploy.desired import director_vars, realserver_vars
from lvsdeploy.facts import FileFact, HostFacts, Interface
from lvsdeploy.inventory import load_cluster
from lvsdeploy.modules import file
from lvsdeploy.plan import host_tasks

REPO = Path(__file__).resolve().parents[2]
CONF = "/etc/keepalived/keepalived.conf"

DR_PAIR = {"all": {
    "vars": {
        "lvs_health_checker": "keepalived",
        "lvs_failover": {"advert_int": 0.5, "preempt_delay": 10},
        "lvs_virtual_services": [{"name": "web", "vip": "10.20.0.10", "port": 80, "mode": "dr",
                                  "realservers": [{"host": "rs1"}, {"host": "rs2"}]}],
    },
    "children": {
        "directors": {"hosts": {"director1": {"lvs_dip": "10.20.0.2/24"}, "director2": {"lvs_dip": "10.20.0.3/24"}}},
        "realservers": {"hosts": {"rs1": {"lvs_rip": "10.20.0.11/24"}, "rs2": {"lvs_rip": "10.20.0.12/24"}}},
    },
}}
# the VIP on the public network, the real servers behind the directors with a gateway that moves with the VIP
NAT_PAIR = {"all": {
    "vars": {
        "lvs_health_checker": "keepalived",
        "lvs_failover": {"gateway": "10.10.0.1/24", "preempt": False, "preempt_delay": 10, "virtual_router_id": 7,
                         "sync_id": 9, "sync_interface": "eth2"},
        "lvs_virtual_services": [{"name": "web", "vip": "192.168.100.10", "port": 80, "mode": "nat",
                                  "realservers": [{"host": "rs1", "port": 8080}]}],
    },
    "children": {
        "directors": {"hosts": {"director1": {"lvs_dip": "10.10.0.2/24"}, "director2": {"lvs_dip": "10.10.0.3/24"}}},
        "realservers": {"hosts": {"rs1": {"lvs_rip": "10.10.0.11/24"}}},
    },
}}


def load(tmp_path: Path, data: dict, change=None) -> model.Cluster:
    data = copy.deepcopy(data)
    if change:
        change(data)
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_cluster(path)


def keepalived_conf(cluster: model.Cluster, name: str) -> str:
    """The keepalived.conf the director role writes on `name`, device tokens and all."""
    tasks = host_tasks(cluster, cluster.hosts[name])
    assert tasks.error is None, tasks.error
    (task,) = [t for t in tasks.tasks if t.module == "file" and t.args.get("path") == CONF]
    assert task.args["devices"] is True   # the file module fills in the devices from the host's facts
    return task.args["content"]


def vrrp_block(conf: str) -> list[str]:
    """The vrrp_instance's lines, stripped, without comments."""
    block = conf[conf.index("vrrp_instance "):]
    block = block[:block.index("\n}\n") + 2]
    return [line.strip() for line in block.splitlines() if not line.strip().startswith("#")]


# ---- priorities and the order of an apply: pure functions of the model ------------------------------------

def directors(*priorities: int | None) -> model.Cluster:
    hosts = {f"d{i}": model.Host(name=f"d{i}", groups=frozenset({"all", "directors"}), vars={},
                                 connection=model.Connection(host=f"d{i}"), dip=IPv4Interface(f"10.0.0.{i}/24"),
                                 health_checker="keepalived", vrrp_priority=p)
             for i, p in enumerate(priorities, start=1)}
    return model.Cluster(source=Path("memory.yml"), hosts=hosts)


def test_default_priorities_make_the_first_director_master():
    assert failover.priorities(directors(None, None, None, None)) == {"d1": 150, "d2": 100, "d3": 99, "d4": 98}
    assert failover.enabled(directors(None, None)) and not failover.enabled(directors(None))


def test_an_explicit_priority_replaces_the_default_of_its_director_only():
    assert failover.priorities(directors(None, 200, None)) == {"d1": 150, "d2": 200, "d3": 99}


def test_rolling_order_backups_first_the_holder_last():
    cluster = directors(None, None, None)
    assert failover.rolling_order(cluster, set()) == ["d3", "d2", "d1"]     # the master to be goes last
    assert failover.rolling_order(cluster, {"d2"}) == ["d3", "d1", "d2"]    # the master now goes last
    assert failover.rolling_order(directors(None, 200, None), set()) == ["d3", "d1", "d2"]


# ---- keepalived.conf ------------------------------------------------------------------------------------------

def test_dr_pair_keepalived_conf(tmp_path):
    cluster = load(tmp_path, DR_PAIR)
    one, two = keepalived_conf(cluster, "director1"), keepalived_conf(cluster, "director2")
    assert vrrp_block(one) == [
        "vrrp_instance VI_LVS {", "state BACKUP", "interface @lvsdeploy-device-of:10.20.0.2@",
        "virtual_router_id 51", "priority 150", "advert_int 0.5", "garp_master_repeat 4", "garp_master_delay 1",
        "preempt_delay 10",
        "unicast_src_ip 10.20.0.2", "unicast_peer {", "10.20.0.3", "}",
        "virtual_ipaddress {", "10.20.0.10/32 dev @lvsdeploy-device-of:10.20.0.10@", "}", "}"]
    # director2: its own DIP, priority and peer, the rest alike
    assert len(vrrp_block(two)) == len(vrrp_block(one))
    assert [(a, b) for a, b in zip(vrrp_block(one), vrrp_block(two)) if a != b] == [
        ("interface @lvsdeploy-device-of:10.20.0.2@", "interface @lvsdeploy-device-of:10.20.0.3@"),
        ("priority 150", "priority 100"), ("unicast_src_ip 10.20.0.2", "unicast_src_ip 10.20.0.3"),
        ("10.20.0.3", "10.20.0.2")]
    # both sync connections on the DIP's link, in VRRPv3 (advert_int below a second), and keep the IPVS table
    assert "    lvs_sync_daemon @lvsdeploy-device-of:10.20.0.2@ VI_LVS id 51\n" in one
    assert "    vrrp_version 3\n" in one
    assert "    lvs_sync_daemon @lvsdeploy-device-of:10.20.0.3@ VI_LVS id 51\n" in two
    assert "virtual_server 10.20.0.10 80 {" in one and "virtual_server 10.20.0.10 80 {" in two


def test_nat_pair_keepalived_conf(tmp_path):
    cluster = load(tmp_path, NAT_PAIR)
    conf = keepalived_conf(cluster, "director2")
    assert vrrp_block(conf) == [
        "vrrp_instance VI_LVS {", "state BACKUP", "interface @lvsdeploy-device-of:10.10.0.3@",
        "virtual_router_id 7", "priority 100", "advert_int 1", "garp_master_repeat 4", "garp_master_delay 1", "nopreempt",   # no preempt_delay without preempt
        "unicast_src_ip 10.10.0.3", "unicast_peer {", "10.10.0.2", "}",
        "virtual_ipaddress {", "192.168.100.10/32 dev @lvsdeploy-device-of:192.168.100.10@",
        "10.10.0.1/24 dev @lvsdeploy-device-of:10.10.0.3@", "}", "}"]
    assert "    lvs_sync_daemon eth2 VI_LVS id 9\n" in conf
    one = vrrp_block(keepalived_conf(cluster, "director1"))   # the master to be: the gateway on its own DIP's link
    assert {"priority 150", "unicast_src_ip 10.10.0.2", "10.10.0.3", "10.10.0.1/24 dev @lvsdeploy-device-of:10.10.0.2@",
            "nopreempt"} <= set(one)
    off = load(tmp_path, NAT_PAIR, lambda d: d["all"]["vars"]["lvs_failover"].update(sync_daemon=False))
    assert "lvs_sync_daemon" not in keepalived_conf(off, "director1")


def test_a_single_director_has_no_vrrp(tmp_path):
    cluster = load_cluster(REPO / "inventories" / "examples" / "dr-keepalived.yml")
    conf = keepalived_conf(cluster, "director1")
    assert "vrrp" not in conf and "lvs_sync_daemon" not in conf and "@lvsdeploy-device-of" not in conf


# ---- the real keepalived accepts it ---------------------------------------------------------------------------

def machine_interface() -> str | None:
    """A non-lo interface of this machine (keepalived refuses lo for VRRP and an interface it cannot find)."""
    try:
        out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    links = [(line.split(": ")[1].split("@")[0], line) for line in out.splitlines() if ": " in line]
    names = [name for name, line in links if name != "lo"]
    # one that can multicast first: keepalived disables a multicast VRRP instance on any other
    return next((name for name, line in links if name != "lo" and "MULTICAST" in line), names[0] if names else None)


IFACE = machine_interface()
needs_keepalived = pytest.mark.skipif(shutil.which("keepalived") is None or IFACE is None,
                                      reason="keepalived or a non-lo interface is missing here")


def written(conf: str, *networks: str) -> str:
    """What the file module writes: the device tokens filled in from facts where IFACE holds `networks`."""
    facts = HostFacts(files={CONF: FileFact(False)},
                      interfaces={IFACE: Interface(IFACE, None, True, None, [IPv4Interface(n) for n in networks])})
    (change,) = file.plan({"path": CONF, "content": conf, "devices": True}, facts)
    (printf,) = [c for c in change.commands if c.startswith("printf '%s' '")]
    return base64.b64decode(printf.split("'")[3]).decode()


def config_test(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    (tmp_path / "keepalived.conf").write_text(text)
    command = checkers.CONFIG_TEST["keepalived"] % (tmp_path / "keepalived.conf")
    return subprocess.run(command.split(), capture_output=True, text=True, timeout=30)


@needs_keepalived
@pytest.mark.parametrize("name,dip", [("director1", "10.20.0.2/24"), ("director2", "10.20.0.3/24")])
def test_keepalived_accepts_a_dr_pairs_conf(tmp_path, name, dip):
    text = written(keepalived_conf(load(tmp_path, DR_PAIR), name), dip)
    assert "@lvsdeploy-device-of" not in text and f"interface {IFACE}\n" in text
    ran = config_test(tmp_path, text)
    assert (ran.returncode, ran.stderr) == (0, "")
    assert config_test(tmp_path, text.replace("unicast_src_ip", "unicast_src_pi")).returncode != 0   # it can fail


@needs_keepalived
def test_keepalived_accepts_a_nat_pairs_conf_with_named_interfaces(tmp_path):
    def named(data):
        data["all"]["vars"]["lvs_failover"]["sync_interface"] = IFACE
        for host in data["all"]["children"]["directors"]["hosts"].values():
            host.update(lvs_dip_interface=IFACE, lvs_vip_interface=IFACE)
    cluster = load(tmp_path, NAT_PAIR, named)
    for name in ("director1", "director2"):
        text = keepalived_conf(cluster, name)
        assert "@lvsdeploy-device-of" not in text and "track_interface" not in text
        ran = config_test(tmp_path, text)
        assert (ran.returncode, ran.stderr) == (0, ""), name


@needs_keepalived
def test_a_nat_pair_with_both_networks_on_one_nic(tmp_path):
    """keepalived tracks each virtual_ipaddress's interface itself (vrrp.c, TRACK_ADDR): no track_interface is
    written, so a VIP's network on VRRP's own NIC is fine (an explicit one would be refused as its own)."""
    data = copy.deepcopy(NAT_PAIR)
    data["all"]["vars"]["lvs_failover"]["sync_interface"] = IFACE
    text = written(keepalived_conf(load(tmp_path, data), "director1"), "10.10.0.2/24", "192.168.100.2/24")
    assert "track_interface" not in text
    ran = config_test(tmp_path, text)
    assert (ran.returncode, ran.stderr) == (0, "")


# ---- desired state --------------------------------------------------------------------------------------------

def test_directors_of_a_pair_leave_the_vips_to_keepalived(tmp_path):
    cluster = load(tmp_path, DR_PAIR)
    d2 = director_vars(cluster, cluster.hosts["director2"])
    assert d2["lvs_vips"] == []
    assert (d2["lvs_vrrp"]["priority"], d2["lvs_vrrp"]["unicast_peers"]) == (100, ["10.20.0.2"])
    assert {k: d2["lvs_director_sysctls"].get(k) for k in ("net.ipv4.conf.all.arp_ignore",
            "net.ipv4.conf.all.arp_announce", "net.ipv4.vs.sync_version")} == {
        "net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2", "net.ipv4.vs.sync_version": "1"}


def test_nat_realservers_route_through_the_floating_gateway(tmp_path):
    cluster = load(tmp_path, NAT_PAIR)
    assert realserver_vars(cluster, cluster.hosts["rs1"])["lvs_nat_gateway"] == "10.10.0.1"


def test_single_director_inventories_are_unchanged():
    nat = load_cluster(REPO / "inventories" / "examples" / "nat.yml")
    d1 = director_vars(nat, nat.hosts["director1"])
    assert d1["lvs_vrrp"] is None and d1["lvs_vips"] == ["192.168.100.10"]
    assert "net.ipv4.vs.sync_version" not in d1["lvs_director_sysctls"]
    assert "net.ipv4.conf.all.arp_ignore" not in d1["lvs_director_sysctls"]
    assert realserver_vars(nat, nat.hosts["rs1"])["lvs_nat_gateway"] == "10.10.0.1"   # the DIP
    assert failover.floating_addresses(nat) == ["192.168.100.10"]


@needs_keepalived
def test_multicast_vrrp_when_unicast_is_off(tmp_path):
    def multicast(data):
        data["all"]["vars"]["lvs_failover"] = {"unicast": False}
    conf = keepalived_conf(load(tmp_path, DR_PAIR, multicast), "director1")
    assert "unicast_src_ip" not in conf and "unicast_peer" not in conf
    ran = config_test(tmp_path, written(conf, "10.20.0.2/24"))
    assert (ran.returncode, ran.stderr) == (0, "")
