"""verify/spec.py: what verify expects of a cluster, worked out from a small fixture inventory alone."""

import json
from types import SimpleNamespace
from pathlib import Path

import pytest
import yaml

from lvsdeploy.inventory import load_cluster
from lvsdeploy.verify import checks, spec
from lvsdeploy.verify import test_director as director_tests   # as a module: pytest must not collect its tests here

FIXTURE = Path(__file__).parent / "fixtures" / "inventories" / "verify" / "cluster.yml"


@pytest.fixture(scope="module")
def cluster():
    return load_cluster(FIXTURE)


def cluster_in_mode(mode: str, tmp_path: Path):
    """The fixture cluster with every service switched to `mode`."""
    data = yaml.safe_load(FIXTURE.read_text())
    for service in data["all"]["vars"]["lvs_virtual_services"]:
        service["mode"] = mode
    path = tmp_path / f"{mode}.yml"
    path.write_text(yaml.safe_dump(data))
    return load_cluster(path)


# ---- the IPVS table ------------------------------------------------------------------------------------------

def test_dr_table_rows_route_every_destination_with_its_port_and_weight(cluster):
    assert spec.ipvs_rows(cluster) == {
        "TCP 10.20.0.10:80 wrr",
        "TCP 10.20.0.10:80 -> 10.20.0.21:80 route weight 1",
        "TCP 10.20.0.10:80 -> 10.20.0.22:80 route weight 3",
        "UDP 10.20.0.10:5005 rr",
        "UDP 10.20.0.10:5005 -> 10.20.0.21:5005 route weight 1",
        "UDP 10.20.0.10:5005 -> 10.20.0.22:5005 route weight 1",
        "TCP 10.20.0.11:443 sh persistent 300 mask 255.255.255.0",
        "TCP 10.20.0.11:443 -> 10.20.0.21:443 route weight 0",
    }


@pytest.mark.parametrize("mode,method", [("nat", "masq"), ("dr", "route"), ("tun", "tunnel")])
def test_each_mode_forwards_with_its_method(mode, method, tmp_path):
    rows = spec.ipvs_rows(cluster_in_mode(mode, tmp_path))
    destinations = [row for row in rows if " -> " in row]
    assert destinations and all(f" {method} weight " in row for row in destinations)


@pytest.mark.parametrize("mode", spec.MODES)
def test_verify_reads_each_switch_by_its_own_table(mode):
    # verify reads `ipvsadm -Sn` itself, with spec's switches: the engine's vocabulary cannot vouch for itself
    rule = spec.MODES[mode]
    rows = checks.ipvs_rows(f"-A -u 10.0.0.1:53 -s rr\n-a -u 10.0.0.1:53 -r 10.0.0.2:53 {rule.ipvsadm_switch} -w 1\n")
    assert rows == {"UDP 10.0.0.1:53 rr", f"UDP 10.0.0.1:53 -> 10.0.0.2:53 {rule.method} weight 1"}
    engine = ("lvsdeploy.lvs", "lvsdeploy.facts.ipvs", "lvsdeploy.desired", "lvsdeploy.modules", "parse_rules")
    for module in (checks, spec, director_tests):   # imports inside functions too
        imports = [line for line in open(module.__file__).read().splitlines()
                   if line.strip().startswith(("from ", "import "))]
        assert not any(name in line for line in imports for name in engine), (module.__name__, imports)


def test_verify_reads_thresholds_itself_and_expects_them_from_the_inventory(cluster):
    listing = ("TCP  10.20.0.10:80 wrr\n  -> 10.20.0.21:80   7   5   0   0\n  -> 10.20.0.22:80   0   0   1   2\n"
               "FWM  7 sh (sh-port) persistent 60\n  -> 10.20.0.21:0   9   0   0   0\n"
               "UDP  10.20.0.10:53 rr\n  -> 10.30.0.11:5353   4   3   0   0\n")
    assert checks.threshold_rows(listing) == {
        ("TCP 10.20.0.10:80", "10.20.0.21:80"): (7, 5), ("TCP 10.20.0.10:80", "10.20.0.22:80"): (0, 0),
        ("FWM 7", "10.20.0.21:0"): (9, 0), ("UDP 10.20.0.10:53", "10.30.0.11:5353"): (4, 3)}
    assert spec.thresholds(cluster) == {}
    cluster.services[0].realservers[0].upper_threshold = 7
    cluster.services[0].realservers[0].lower_threshold = 5
    label = spec.service_label(cluster.services[0].protocol, str(cluster.services[0].vip), cluster.services[0].port,
                               cluster.services[0].fwmark)
    rs = cluster.services[0].realservers[0]
    assert spec.thresholds(cluster) == {(label, f"{spec.rip_of(cluster, rs.host)}:{rs.port}"): (7, 5)}


def test_a_host_table_read_back_compares_equal_and_a_wrong_method_shows_as_missing_and_extra(cluster):
    saved = (
        "-A -t 10.20.0.10:80 -s wrr\n"
        "-a -t 10.20.0.10:80 -r 10.20.0.21:80 -g -w 1\n"
        "-a -t 10.20.0.10:80 -r 10.20.0.22:80 -g -w 3\n"
        "-A -u 10.20.0.10:5005 -s rr\n"
        "-a -u 10.20.0.10:5005 -r 10.20.0.21:5005 -g -w 1\n"
        "-a -u 10.20.0.10:5005 -r 10.20.0.22:5005 -m -w 1\n"
        "-A -t 10.20.0.11:443 -s sh -p 300 -M 255.255.255.0\n"
        "-a -t 10.20.0.11:443 -r 10.20.0.21:443 -g -w 0\n"
    )
    found, wanted = checks.ipvs_rows(saved), spec.ipvs_rows(cluster)
    assert checks.table_difference(wanted, found) == (
        "missing ['UDP 10.20.0.10:5005 -> 10.20.0.22:5005 route weight 1'], "
        "extra ['UDP 10.20.0.10:5005 -> 10.20.0.22:5005 masq weight 1']")
    assert checks.ipvs_rows(saved.replace("5005 -m", "5005 -g")) == wanted
    assert checks.ipvs_rows("") == set()


def test_full_netmask_is_the_default_and_not_a_row_difference():
    assert spec.service_row("TCP 10.0.0.1:80", "sh", 60, "255.255.255.255") == "TCP 10.0.0.1:80 sh persistent 60"
    assert spec.service_row("FWM 7", "rr", None, None) == "FWM 7 rr"


# ---- directors -----------------------------------------------------------------------------------------------

def test_director_modules_are_ip_vs_and_each_scheduler_once(cluster):
    assert spec.director_modules(cluster) == ["ip_vs", "ip_vs_rr", "ip_vs_sh", "ip_vs_wrr"]


def test_director_forwards_only_for_nat(cluster, tmp_path):
    expire = {"net.ipv4.vs.expire_nodest_conn": "1", "net.ipv4.vs.expire_quiescent_template": "1"}
    assert spec.director_sysctls(cluster) == expire
    assert spec.director_sysctls(cluster_in_mode("nat", tmp_path)) == {**expire, "net.ipv4.ip_forward": "1"}


def test_director_vips_once_each(cluster):
    assert spec.director_vips(cluster) == ["10.20.0.10", "10.20.0.11"]


# ---- real servers ---------------------------------------------------------------------------------------------

DR_SYSCTLS = {
    "net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
    "net.ipv4.conf.lo.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2",
}
TUN_SYSCTLS = {
    **DR_SYSCTLS,
    "net.ipv4.conf.tunl0.arp_ignore": "1", "net.ipv4.conf.tunl0.arp_announce": "2",
    "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.tunl0.rp_filter": "0",
}


@pytest.mark.parametrize("modes,sysctls", [({"nat"}, {}), ({"dr"}, DR_SYSCTLS), ({"tun"}, TUN_SYSCTLS),
                                           ({"dr", "tun"}, TUN_SYSCTLS), (set(), {})])
def test_realserver_sysctls_per_mode(modes, sysctls):
    assert spec.realserver_sysctls(modes) == sysctls


def test_only_tun_needs_the_ipip_module():
    assert spec.realserver_modules({"tun"}) == ["ipip"]
    assert spec.realserver_modules({"dr", "nat"}) == []


def test_dr_realserver_holds_its_services_vips_on_lo(cluster):
    assert spec.realserver_vips(cluster, cluster.hosts["rs1"]) == {"lo": ["10.20.0.10", "10.20.0.11"]}
    assert spec.realserver_vips(cluster, cluster.hosts["rs2"]) == {"lo": ["10.20.0.10"]}
    assert spec.nat_gateway(cluster, cluster.hosts["rs1"]) is None


def test_tun_realserver_holds_the_vips_on_tunl0(tmp_path):
    tun = cluster_in_mode("tun", tmp_path)
    assert spec.realserver_vips(tun, tun.hosts["rs2"]) == {"tunl0": ["10.20.0.10"]}
    assert spec.realserver_sysctls(spec.realserver_modes(tun, tun.hosts["rs2"])) == TUN_SYSCTLS


def test_nat_realserver_holds_no_vip_and_routes_through_the_dip(tmp_path):
    nat = cluster_in_mode("nat", tmp_path)
    assert spec.realserver_vips(nat, nat.hosts["rs1"]) == {}
    assert spec.nat_gateway(nat, nat.hosts["rs1"]) == "10.20.0.2"


def test_listening_ports_include_udp(cluster):
    assert spec.listening_ports(cluster, cluster.hosts["rs1"]) == [("tcp", 80), ("tcp", 443), ("udp", 5005)]
    assert spec.listening_ports(cluster, cluster.hosts["rs2"]) == [("tcp", 80), ("udp", 5005)]


# ---- shared storage ---------------------------------------------------------------------------------------------

def shares(cluster) -> dict:
    return {s.name: s for s in cluster.shares}


def test_export_is_normalised_and_open_to_each_client_address_only(cluster):
    content, media = shares(cluster)["content"], shares(cluster)["media"]
    assert spec.share_export(cluster, content) == spec.Export(
        path="/srv/lvs/content", clients=frozenset({"10.20.0.21/32", "10.20.0.22/32"}),
        options=frozenset({"rw", "sync", "no_subtree_check", "root_squash"}))
    # a real server is exported to at its RIP, a client host at its own address
    assert spec.share_export(cluster, media).clients == {"10.20.0.22/32", "10.20.0.100/32"}
    assert spec.share_export(cluster, media).options == {"ro", "sync", "no_subtree_check"}


def test_only_realservers_mount_a_share(cluster):
    assert spec.mounting_clients(cluster, shares(cluster)["content"]) == ["rs1", "rs2"]
    assert spec.mounting_clients(cluster, shares(cluster)["media"]) == ["rs2"]


def test_mount_adds_netdev_and_bg_to_the_default_options(cluster):
    assert spec.share_mount(cluster, shares(cluster)["content"]) == spec.ShareMount(
        src="10.20.0.5:/srv/lvs/content", path="/var/www/html/shared", fstype="nfs",
        opts="rw,hard,vers=4.2,_netdev,bg")


def test_mount_keeps_a_chosen_retry_option_and_adds_only_netdev(cluster):
    assert spec.share_mount(cluster, shares(cluster)["media"]).opts == "ro,soft,fg,_netdev"


# ---- director failover ------------------------------------------------------------------------------------------

def pair(tmp_path: Path, mode: str = "dr", failover: dict | None = None):
    """Two directors in front of two real servers, one service in `mode` (keepalived: failover needs it)."""
    data = {"all": {
        "vars": {"ansible_user": "root", "lvs_health_checker": "keepalived",
                 "lvs_virtual_services": [{"name": "web", "vip": "10.20.0.10", "port": 80, "mode": mode,
                                           "scheduler": "rr", "realservers": [{"host": "rs1"}, {"host": "rs2"}]}]},
        "children": {
            "directors": {"hosts": {"director1": {"lvs_dip": "10.10.0.2/24"},
                                    "director2": {"lvs_dip": "10.10.0.3/24"}}},
            "realservers": {"hosts": {"rs1": {"lvs_rip": "10.10.0.11/24"}, "rs2": {"lvs_rip": "10.10.0.12/24"}}},
        }}}
    if failover is not None:
        data["all"]["vars"]["lvs_failover"] = failover
    path = tmp_path / "pair.yml"
    path.write_text(yaml.safe_dump(data))
    return load_cluster(path)


FAILOVER_SYSCTLS = {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
                    "net.ipv4.vs.sync_version": "1"}


def test_one_director_has_no_failover(cluster):
    assert not spec.failover(cluster)
    assert spec.floating_addresses(cluster) == spec.director_vips(cluster)
    assert spec.vrrp_directives(cluster) == []
    assert not FAILOVER_SYSCTLS.keys() & spec.director_sysctls(cluster).keys()


def test_dr_pair_floats_the_vips_and_runs_vrrp_and_the_sync_daemon_by_default(tmp_path):
    dr = pair(tmp_path)   # no lvs_failover: two directors are enough
    assert spec.failover(dr)
    assert spec.floating_addresses(dr) == ["10.20.0.10"]
    assert spec.director_sysctls(dr).items() >= FAILOVER_SYSCTLS.items()
    assert spec.vrrp_directives(dr) == ["vrrp_instance", "virtual_router_id 51", "lvs_sync_daemon"]
    assert spec.nat_gateway(dr, dr.hosts["rs1"]) is None


def test_vrrp_directives_follow_lvs_failover(tmp_path):
    dr = pair(tmp_path, failover={"virtual_router_id": 7, "sync_daemon": False})
    assert spec.vrrp_directives(dr) == ["vrrp_instance", "virtual_router_id 7"]


def test_nat_pair_floats_the_gateway_and_real_servers_route_through_it(tmp_path):
    nat = pair(tmp_path, "nat", {"gateway": "10.10.0.254/24"})
    assert spec.floating_addresses(nat) == ["10.20.0.10", "10.10.0.254"]
    assert spec.nat_gateway(nat, nat.hosts["rs1"]) == "10.10.0.254"   # not director1's DIP: it does not move
    assert spec.director_sysctls(nat) == {**spec.DIRECTOR_SYSCTLS, "net.ipv4.ip_forward": "1", **FAILOVER_SYSCTLS}


class AddressHost:
    """Answers `ip -j -4 addr show` with one interface holding `ips`, and keepalived's VRRP `state` (with the
    sync daemon of that role) the way the journal and ipvsadm say it."""

    def __init__(self, *ips: str, state: str = "BACKUP"):
        self.ips, self.state = ips, state

    def check_output(self, command):
        assert command == "ip -j -4 addr show"
        return json.dumps([{"ifname": "eth0", "addr_info": [{"local": ip, "prefixlen": 24} for ip in self.ips]}])

    def run(self, command):
        if command == checks.KEEPALIVED_JOURNAL:
            out = f"since 9000000\n[   12.000000] d Keepalived_vrrp[7]: (VI_LVS) Entering {self.state} STATE\n"
        else:
            assert command == "ipvsadm -L --daemon"
            out = f"{self.state.lower()} sync daemon (mcast=eth1, syncid=51)\n"
        return SimpleNamespace(stdout=out)


def test_traffic_is_counted_on_the_director_holding_the_vip(tmp_path, cluster):
    dr = pair(tmp_path)
    hosts = {"director1": AddressHost("10.10.0.2"), "director2": AddressHost("10.10.0.3", "10.20.0.10")}
    assert checks.counting_director(dr, hosts.get, "10.20.0.10").name == "director2"
    with pytest.raises(AssertionError, match="on exactly one director, found on none"):
        checks.counting_director(dr, hosts.get, "10.20.0.99")
    # one director: no address to look up, it counts everything
    assert checks.counting_director(cluster, None, "10.20.0.10").name == "director1"


def test_master_holding_every_floating_address_is_reported(tmp_path, monkeypatch):
    nat = pair(tmp_path, "nat", {"gateway": "10.10.0.254/24"})
    state = []
    monkeypatch.setattr(director_tests, "FAILOVER_STATE", state)
    master = AddressHost("10.10.0.2", "10.20.0.10", "10.10.0.254", state="MASTER")
    director_tests.test_each_floating_address_on_exactly_one_director(
        nat, {"director1": master, "director2": AddressHost("10.10.0.3")}.get)
    assert state == ["director1 is master (holds 10.20.0.10, 10.10.0.254); backups: director2"]
    # a backup that could not take over (FAULT) is a failed pair, though the master holds everything
    with pytest.raises(AssertionError, match="keepalived VRRP state: expected BACKUP, found FAULT"):
        director_tests.test_each_floating_address_on_exactly_one_director(
            nat, {"director1": master, "director2": AddressHost("10.10.0.3", state="FAULT")}.get)
    # the gateway left behind on the old master: NAT replies would go to a director without the connections
    with pytest.raises(AssertionError, match="all on one director"):
        director_tests.test_each_floating_address_on_exactly_one_director(
            nat, {"director1": AddressHost("10.10.0.254"), "director2": AddressHost("10.20.0.10")}.get)
    with pytest.raises(AssertionError, match=r"floating address 10.20.0.10: expected on exactly one director, "
                                             r"found \['director1', 'director2'\]"):
        director_tests.test_each_floating_address_on_exactly_one_director(
            nat, {"director1": master, "director2": AddressHost("10.20.0.10")}.get)


def test_fullnat_director_needs_forwarding_conntrack_and_a_source_nat_per_service(tmp_path):
    fullnat = cluster_in_mode("fullnat", tmp_path)
    wanted = spec.director_sysctls(fullnat)
    assert wanted["net.ipv4.ip_forward"] == "1" and wanted["net.ipv4.vs.conntrack"] == "1"
    director = fullnat.directors()[0]
    nats = spec.source_nat(fullnat, director)
    assert nats and {n.to for n in nats} == {str(director.dip.ip)}
    assert [(n.vip, n.port, n.protocol) for n in nats] == [(str(s.vip), s.port, s.protocol) for s in fullnat.services]
    assert spec.source_nat(cluster_in_mode("nat", tmp_path), director) == []
    assert "net.ipv4.vs.conntrack" not in spec.director_sysctls(cluster_in_mode("nat", tmp_path))


def test_ipvs_tuning_is_expected_as_the_inventory_sets_it(tmp_path):
    data = yaml.safe_load(FIXTURE.read_text())
    data["all"]["vars"]["lvs_ipvs"] = {"timeouts": {"udp": 60}, "sysctls": {"expire_nodest_conn": 0,
                                                                          "schedule_icmp": 1}}
    path = tmp_path / "tuned.yml"
    path.write_text(yaml.safe_dump(data))
    tuned = load_cluster(path)
    assert spec.ipvs_timeouts(tuned) == {"udp": 60}
    wanted = spec.director_sysctls(tuned)
    assert wanted["net.ipv4.vs.expire_nodest_conn"] == "0" and wanted["net.ipv4.vs.schedule_icmp"] == "1"
    assert spec.ipvs_timeouts(load_cluster(FIXTURE)) == {}
