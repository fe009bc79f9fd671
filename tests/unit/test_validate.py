"""One test per validation rule: a valid DR cluster, changed in one place, must give exactly that problem."""

import copy
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest
import yaml

from lvsdeploy import model, validate
from lvsdeploy.errors import InventoryError, Problem
from lvsdeploy.inventory import load_cluster

BASE = {"all": {
    "vars": {
        "lvs_virtual_services": [
            {"name": "web", "vip": "10.20.0.10", "port": 80, "mode": "dr",
             "realservers": [{"host": "rs1"}, {"host": "rs2"}]},
        ],
        "lvs_shared_storage": [
            {"name": "content", "server": "storage1", "export": "/srv/lvs/content", "mount": "/var/www/html/shared"},
        ],
    },
    "children": {
        "directors": {"hosts": {"director1": {"lvs_dip": "10.20.0.2/24"}}},
        "realservers": {"hosts": {"rs1": {"lvs_rip": "10.20.0.11/24"}, "rs2": {"lvs_rip": "10.20.0.12/24"}}},
        "storage": {"hosts": {"storage1": {"lvs_storage_ip": "10.20.0.20/24"}}},
        "clients": {"hosts": {"client": {"lvs_client_ip": "10.20.0.100/24"}}},
    },
}}


def check(tmp_path: Path, change=None) -> list[Problem]:
    """Apply change(inventory) to a copy of BASE, load it, return the problems (none if it loads)."""
    inventory = copy.deepcopy(BASE)
    if change:
        change(inventory)
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    try:
        load_cluster(path)
    except InventoryError as error:
        return error.problems
    return []


def one(problems: list[Problem], where: str, what: str) -> Problem:
    """Exactly one problem, at `where`, whose text contains `what`."""
    assert [p.where for p in problems] == [where], [str(p) for p in problems]
    assert what in problems[0].what, problems[0].what
    return problems[0]


def services(inv) -> list[dict]:
    return inv["all"]["vars"]["lvs_virtual_services"]


def shares(inv) -> list[dict]:
    return inv["all"]["vars"]["lvs_shared_storage"]


def hosts(inv, group) -> dict:
    return inv["all"]["children"][group]["hosts"]


def add_service(inv, **fields):
    services(inv).append({"name": "api", "vip": "10.20.0.10", "port": 8080, "mode": "dr",
                          "realservers": [{"host": "rs1"}], **fields})


def add_share(inv, **fields):
    shares(inv).append({"name": "logs", "server": "storage1", "export": "/srv/lvs/logs", "mount": "/var/log/shared",
                        **fields})


def test_base_is_valid(tmp_path):
    assert check(tmp_path) == []


def test_nothing_configured_is_fine(tmp_path):
    def strip(inv):
        inv["all"]["vars"] = {}
        del inv["all"]["children"]["directors"]
    assert check(tmp_path, strip) == []


# ---- hosts -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("group, host, var", [
    ("directors", "director1", "lvs_dip"), ("realservers", "rs2", "lvs_rip"), ("storage", "storage1", "lvs_storage_ip"),
])
def test_required_host_variables(tmp_path, group, host, var):
    found = check(tmp_path, lambda inv: hosts(inv, group)[host].pop(var))
    one(found, f"host {host}: {var}", f"is required for hosts in group {group}")


def test_services_need_a_director(tmp_path):
    found = check(tmp_path, lambda inv: inv["all"]["children"].pop("directors"))
    problem = one(found, "lvs_virtual_services", "services are defined (web) but group directors has no hosts")
    assert problem.line == 3


# ---- director failover: two or more directors share the VIPs by keepalived's VRRP ----------------------------

def pair(*changes, checker="keepalived", failover=None):
    """A change adding director2 (10.20.0.3/24), setting lvs_health_checker to `checker` and, when given,
    lvs_failover to `failover` (all.vars), then making `changes`."""
    def change(inv):
        inv["all"]["vars"]["lvs_health_checker"] = checker
        if failover is not None:
            inv["all"]["vars"]["lvs_failover"] = copy.deepcopy(failover)
        hosts(inv, "directors")["director2"] = {"lvs_dip": "10.20.0.3/24"}
        for more in changes:
            more(inv)
    return change


def nat(inv):
    services(inv)[0]["mode"] = "nat"


def line_of(tmp_path: Path, key: str, after: str | None = None) -> int:
    """The 1-based line of the first `key:` in the inventory check() wrote, from the line `after` on."""
    lines = (tmp_path / "lab.yml").read_text().splitlines()
    start = 0 if after is None else next(i for i, line in enumerate(lines) if line.strip() == after)
    return next(i for i in range(start, len(lines)) if lines[i].strip().startswith(f"{key}:")) + 1


def test_a_pair_with_keepalived_is_valid(tmp_path):
    assert check(tmp_path, pair()) == []
    every = {"virtual_router_id": 7, "advert_int": 0.5, "preempt": False, "preempt_delay": 30, "sync_daemon": True,
             "sync_id": 0, "interface": "eth1", "sync_interface": "eth2.100"}
    assert check(tmp_path, pair(failover=every)) == []
    assert check(tmp_path, pair(nat, failover={"gateway": "10.20.0.1/24"})) == []


@pytest.mark.parametrize("checker", ["none", "ldirectord"])
def test_a_pair_needs_keepalived(tmp_path, checker):
    found = check(tmp_path, pair(checker=checker))
    problem = one(found, "host director1: lvs_health_checker", f"is {checker}, but 2 directors (director1, "
                                                              "director2) fail over with keepalived")
    assert problem.line == line_of(tmp_path, "lvs_health_checker")


def test_failover_needs_two_directors(tmp_path):
    found = check(tmp_path, lambda inv: inv["all"]["vars"].update(lvs_failover={"advert_int": 2}))
    problem = one(found, "lvs_failover", "needs two or more hosts in group directors (has 1: director1)")
    assert problem.line == line_of(tmp_path, "lvs_failover")


def test_a_nat_pair_needs_a_gateway(tmp_path):
    found = check(tmp_path, pair(nat, failover={"preempt": False}))
    problem = one(found, "lvs_failover: gateway", "is required for nat service web with 2 directors")
    assert problem.line == line_of(tmp_path, "lvs_failover")


def test_a_nat_pair_without_lvs_failover_is_refused_at_a_line(tmp_path):
    (problem,) = check(tmp_path, pair(nat))
    assert problem.where == "lvs_failover: gateway" and problem.line is not None


def test_a_nat_pairs_gateway_is_not_missing_when_another_key_is_wrong(tmp_path):
    found = check(tmp_path, pair(nat, failover={"gateway": "10.20.0.1/24", "preemt": False}))
    one(found, "lvs_failover.preemt", "unknown key")


@pytest.mark.parametrize("gateway,what", [
    ("10.30.0.1/24", "10.30.0.1/24 is not in the directors' DIP network 10.20.0.0/24"),
    ("10.20.0.3/24", "10.20.0.3 is also lvs_dip of director2; it needs its own address"),
    ("10.20.0.11/24", "10.20.0.11 is also lvs_rip of rs1; it needs its own address"),
    ("10.20.0.10/24", "10.20.0.10 is also vip of service web; it needs its own address"),
    ("10.20.0.0/24", "10.20.0.0/24 is the network or broadcast address, not a host address"),
    ("10.20.0.255/24", "10.20.0.255/24 is the network or broadcast address, not a host address"),
])
def test_the_nat_gateway_is_an_address_of_its_own_in_the_dip_network(tmp_path, gateway, what):
    found = check(tmp_path, pair(nat, failover={"preempt": True, "gateway": gateway}))
    assert one(found, "lvs_failover: gateway", what).line == line_of(tmp_path, "gateway")


def test_a_gateway_without_nat_service_is_refused(tmp_path):
    found = check(tmp_path, pair(failover={"gateway": "10.20.0.1/24"}))
    assert one(found, "lvs_failover: gateway", "only applies to nat services").line == line_of(tmp_path, "gateway")


def test_two_directors_with_one_priority(tmp_path):
    found = check(tmp_path, pair(lambda inv: hosts(inv, "directors")["director2"].update(lvs_vrrp_priority=150)))
    problem = one(found, "host director2: lvs_vrrp_priority", "priority 150 is also director1's")
    assert problem.line == line_of(tmp_path, "lvs_vrrp_priority")


def test_directors_dips_in_different_networks(tmp_path):
    found = check(tmp_path, pair(lambda inv: hosts(inv, "directors")["director2"].update(lvs_dip="10.21.0.3/24")))
    problem = one(found, "host director2: lvs_dip", "directors' DIPs are in different networks "
                                                    "(10.20.0.0/24, 10.21.0.0/24)")
    assert problem.line == line_of(tmp_path, "lvs_dip", after="director2:")


def test_vrrp_priority_only_on_directors(tmp_path):
    found = check(tmp_path, lambda inv: hosts(inv, "realservers")["rs1"].update(lvs_vrrp_priority=100))
    problem = one(found, "host rs1: lvs_vrrp_priority", "only applies to hosts in group directors")
    assert problem.line == line_of(tmp_path, "lvs_vrrp_priority")


@pytest.mark.parametrize("failover,where,what", [
    ({"interface": "eth0\n}\nvrrp_script x {"}, "group all: lvs_failover", "contains a control character"),
    ({"interface": "eth0}"}, "lvs_failover.interface", "must be a network interface name like eth1"),
    ({"sync_interface": "eth0 VI_X"}, "lvs_failover.sync_interface", "got 'eth0 VI_X'"),
    ({"advert_int": 0.015}, "lvs_failover.advert_int", "must be a number of seconds between 0.01 and 40.95"),
    ({"advert_int": "1; reboot"}, "lvs_failover.advert_int", "must be a number of seconds between 0.01 and 40.95"),
    ({"virtual_router_id": 256}, "lvs_failover.virtual_router_id", "must be an integer between 1 and 255, got 256"),
    ({"virtual_router_id": "51"}, "lvs_failover.virtual_router_id", "got '51'"),
    ({"preemt": False}, "lvs_failover.preemt", "unknown key; did you mean 'preempt'?"),
])
def test_hostile_failover_values_are_refused_at_their_line(tmp_path, failover, where, what):
    found = check(tmp_path, pair(failover=failover))
    key = where.rpartition(".")[2] if "." in where else "lvs_failover"
    assert one(found, where, what).line == line_of(tmp_path, key, after="lvs_failover:" if "." in where else None)


def test_lvs_failover_must_be_a_mapping(tmp_path):
    found = check(tmp_path, pair(failover=["gateway", "10.20.0.1/24"]))
    one(found, "lvs_failover", "must be a mapping like {virtual_router_id: 51}, got a list")


def test_director_is_not_a_realserver(tmp_path):
    def change(inv):
        inv["all"]["children"]["directors"]["hosts"] = {"rs1": None}
        hosts(inv, "realservers")["rs1"]["lvs_dip"] = "10.20.0.2/24"
    found = check(tmp_path, change)
    one(found, "host rs1", "a director cannot also be a real server")


def test_address_used_by_two_hosts(tmp_path):
    found = check(tmp_path, lambda inv: hosts(inv, "clients")["client"].update(lvs_client_ip="10.20.0.12/24"))
    one(found, "host client: lvs_client_ip", "address 10.20.0.12 is already used by host rs2 (lvs_rip)")


def test_vip_equal_to_a_host_address(tmp_path):
    found = check(tmp_path, lambda inv: services(inv)[0].update(vip="10.20.0.2"))
    one(found, "service web: vip", "10.20.0.2 is also lvs_dip of host director1")


def test_network_address_is_not_a_host_address(tmp_path):
    found = check(tmp_path, lambda inv: hosts(inv, "storage")["storage1"].update(lvs_storage_ip="10.20.0.0/24"))
    one(found, "host storage1: lvs_storage_ip", "is the network address of 10.20.0.0/24")


# ---- services --------------------------------------------------------------------------------------

def test_fullnat_is_valid_with_mapped_ports_and_routed_realservers(tmp_path):
    def routed(inv):
        services(inv)[0].update(mode="fullnat")
        services(inv)[0]["realservers"][1]["port"] = 8080
        hosts(inv, "realservers")["rs2"]["lvs_rip"] = "10.99.0.12/24"   # another network: fullnat needs no L2
    assert check(tmp_path, routed) == []


def test_fullnat_refuses_a_fwmark_service(tmp_path):
    found = check(tmp_path, lambda inv: services(inv)[0].update(mode="fullnat", fwmark=7, port=None))
    one(found, "service web: fwmark", "fullnat with a fwmark service is not supported yet")


def test_fullnat_refuses_two_directors(tmp_path):
    found = check(tmp_path, pair(lambda inv: services(inv)[0].update(mode="fullnat")))
    one(found, "service web: mode", "fullnat with 2 directors is not supported yet")


def test_service_without_realservers(tmp_path):
    found = check(tmp_path, lambda inv: services(inv)[0].update(realservers=[]))
    one(found, "service web: realservers", "needs at least one real server")


def test_unknown_realserver_host(tmp_path):
    found = check(tmp_path, lambda inv: services(inv)[0]["realservers"][0].update(host="rs9"))
    problem = one(found, "service web: realservers[0].host", "unknown host 'rs9' (real servers: rs1, rs2)")
    assert str(problem) == f"{tmp_path / 'lab.yml'}:9: service web: realservers[0].host: " \
                           "unknown host 'rs9' (real servers: rs1, rs2)"


def test_realserver_host_not_in_group_realservers(tmp_path):
    found = check(tmp_path, lambda inv: services(inv)[0]["realservers"][1].update(host="client"))
    one(found, "service web: realservers[1].host", "host 'client' is not in group realservers")


def test_realserver_listed_twice(tmp_path):
    found = check(tmp_path, lambda inv: services(inv)[0]["realservers"].append({"host": "rs1"}))
    one(found, "service web: realservers[2].host", "rs1 port 80 is listed twice (also realservers[0])")


def test_duplicate_service_names(tmp_path):
    found = check(tmp_path, lambda inv: add_service(inv, name="web"))
    one(found, "service web: name", "duplicate service name (first at")


@pytest.mark.parametrize("first, second, where, key", [
    ({}, {"port": 80}, "service api: vip", "tcp 10.20.0.10:80"),
    ({"fwmark": 7}, {"fwmark": 7}, "service api: fwmark", "fwmark 7"),
])
def test_duplicate_services(tmp_path, first, second, where, key):
    def change(inv):
        services(inv)[0].update(first)
        add_service(inv, **second)
    found = check(tmp_path, change)
    one(found, where, f"same virtual service ({key}) as service web")


def test_same_vip_other_port_or_protocol_is_fine(tmp_path):
    assert check(tmp_path, lambda inv: add_service(inv, port=80, protocol="udp")) == []


@pytest.mark.parametrize("mode", ["dr", "tun"])
def test_port_mapping_only_in_nat(tmp_path, mode):
    def change(inv):
        services(inv)[0].update(mode=mode)
        services(inv)[0]["realservers"][1]["port"] = 8080
    one(check(tmp_path, change), "service web: realservers[1].port",
        f"8080 differs from the service port 80; {mode} mode cannot map ports (only nat and fullnat can)")


def test_port_mapping_in_nat_is_fine(tmp_path):
    def change(inv):
        services(inv)[0].update(mode="nat")
        services(inv)[0]["realservers"][1]["port"] = 8080
    assert check(tmp_path, change) == []


@pytest.mark.parametrize("mode, why", [
    ("dr", "dr real servers must be on the director's LAN"),
    ("nat", "nat real servers must be on the director's network to use the DIP as default gateway"),
])
def test_realserver_outside_the_director_network(tmp_path, mode, why):
    def change(inv):
        services(inv)[0].update(mode=mode)
        hosts(inv, "realservers")["rs2"]["lvs_rip"] = "10.30.2.12/24"
    one(check(tmp_path, change), "service web: realservers[1].host",
        f"rs2 (lvs_rip 10.30.2.12/24) is not in the director's network 10.20.0.0/24 (lvs_dip of director1); {why}")


def test_tun_realservers_may_live_elsewhere(tmp_path):
    def change(inv):
        services(inv)[0].update(mode="tun")
        hosts(inv, "realservers")["rs2"]["lvs_rip"] = "10.30.2.12/24"
    assert check(tmp_path, change) == []


@pytest.mark.parametrize("other", ["dr", "tun"])
def test_nat_and_direct_reply_modes_on_one_realserver(tmp_path, other):
    def change(inv):
        services(inv)[0].update(mode=other)
        add_service(inv, mode="nat")
    one(check(tmp_path, change), "service api: realservers[0].host",
        f"rs1 serves nat service api and {other} service web; nat needs the DIP as default route")


def test_dr_and_tun_on_one_realserver_is_fine(tmp_path):
    assert check(tmp_path, lambda inv: add_service(inv, mode="tun")) == []


def test_persistence_netmask_needs_persistence(tmp_path):
    found = check(tmp_path, lambda inv: services(inv)[0].update(persistence_netmask="255.255.255.0"))
    one(found, "service web: persistence_netmask", "only applies with persistence")


def test_persistence_netmask_must_be_a_netmask(tmp_path):
    found = check(tmp_path, lambda inv: services(inv)[0].update(persistence=60, persistence_netmask="255.0.255.0"))
    one(found, "service web: persistence_netmask", "255.0.255.0 is not a netmask")


# ---- shares ----------------------------------------------------------------------------------------

def test_share_server_unknown(tmp_path):
    found = check(tmp_path, lambda inv: shares(inv)[0].update(server="storage9"))
    one(found, "share content: server", "unknown host 'storage9' (storage nodes: storage1)")


def test_share_server_not_in_group_storage(tmp_path):
    found = check(tmp_path, lambda inv: shares(inv)[0].update(server="rs1"))
    one(found, "share content: server", "host 'rs1' is not in group storage")


@pytest.mark.parametrize("key", ["export", "mount"])
def test_share_paths_absolute(tmp_path, key):
    found = check(tmp_path, lambda inv: shares(inv)[0].update({key: "srv/relative"}))
    one(found, f"share content: {key}", "must be an absolute path, got 'srv/relative'")


def test_duplicate_share_names(tmp_path):
    found = check(tmp_path, lambda inv: add_share(inv, name="content"))
    one(found, "share content: name", "duplicate share name (first at")


def test_mount_point_used_twice_on_a_client(tmp_path):
    found = check(tmp_path, lambda inv: add_share(inv, mount="/var/www/html/shared/", clients=["rs2"]))
    one(found, "share logs: mount", "/var/www/html/shared/ on rs2 is already the mount point of share content")


def test_same_mount_point_on_different_clients_is_fine(tmp_path):
    def change(inv):
        shares(inv)[0]["clients"] = ["rs1"]
        add_share(inv, mount="/var/www/html/shared", clients=["rs2"])
    assert check(tmp_path, change) == []


def test_share_client_unknown(tmp_path):
    found = check(tmp_path, lambda inv: shares(inv)[0].update(clients=["rs1", "rs3"]))
    one(found, "share content: clients[1]", "unknown host 'rs3'")


def test_share_client_listed_twice(tmp_path):
    found = check(tmp_path, lambda inv: shares(inv)[0].update(clients=["rs1", "rs1"]))
    one(found, "share content: clients[1]", "rs1 is listed twice")


def block(share: dict, **fields) -> None:
    """Turn the fixture's nfs share into a block share."""
    del share["export"]
    share.update({"type": "gfs2", "device": "/dev/disk/by-id/virtio-lun0", **fields})


def test_block_share_is_valid(tmp_path):
    assert check(tmp_path, lambda inv: block(shares(inv)[0])) == []
    assert check(tmp_path, lambda inv: block(shares(inv)[0], type="ocfs2", journals=4)) == []
    assert check(tmp_path, lambda inv: block(shares(inv)[0], device="/srv/lvs/luns/content.img", size="2G")) == []


def test_block_share_needs_a_device_not_an_export(tmp_path):
    found = check(tmp_path, lambda inv: shares(inv)[0].update(type="gfs2"))
    one(found, "share content: device", "is required for a gfs2 share (the server's block device, or a file "
                                        "with size)")
    found = check(tmp_path, lambda inv: shares(inv)[0].update(type="ocfs2", device="/dev/vdb"))
    one(found, "share content: export", "is for nfs shares; a ocfs2 share exports its device over iSCSI")


def test_nfs_share_refuses_block_keys(tmp_path):
    found = check(tmp_path, lambda inv: shares(inv)[0].update(journals=2))
    one(found, "share content: journals", "is for gfs2 and ocfs2 shares; an nfs share exports a directory")


def test_file_backed_lun_needs_a_size_and_a_device_none(tmp_path):
    found = check(tmp_path, lambda inv: block(shares(inv)[0], device="/srv/lvs/luns/content.img"))
    one(found, "share content: size", "is required for a file-backed LUN (device is not under /dev), like 2G")
    found = check(tmp_path, lambda inv: block(shares(inv)[0], size="2G"))
    one(found, "share content: size", "is for a file-backed LUN; a block device has its own size")
    found = check(tmp_path, lambda inv: block(shares(inv)[0], device="/srv/lvs/luns/c.img", size="2 GB"))
    one(found, "share content: size", "must be a size like 2G (a number, then M, G or T), got '2 GB'")


def test_block_share_device_paths(tmp_path):
    found = check(tmp_path, lambda inv: block(shares(inv)[0], device="/dev/"))
    one(found, "share content: device", "/dev/ is not a device; name one like /dev/disk/by-id/virtio-lun0")
    found = check(tmp_path, lambda inv: block(shares(inv)[0], device="/dev/../etc/shadow"))
    assert found and found[0].where == "share content: device"
    found = check(tmp_path, lambda inv: block(shares(inv)[0], device="/etc/lun.img", size="1G"))
    one(found, "share content: device", "/etc/lun.img is a system directory; use a directory of its own "
                                        "like /srv/lvs/content")
    found = check(tmp_path, lambda inv: block(shares(inv)[0], device="/dev/vdb; reboot"))
    assert found and found[0].where == "share content: device"


def test_block_share_rules(tmp_path):
    found = check(tmp_path, lambda inv: block(shares(inv)[0], journals=1))
    one(found, "share content: journals", "1 journals for 2 clients: each client that mounts needs its own")
    found = check(tmp_path, lambda inv: block(shares(inv)[0], name="a-very-long-name-for-a-lock-table-x"))
    assert found and "lock table name" in found[0].what
    found = check(tmp_path, lambda inv: block(shares(inv)[0], clients=[]))
    one(found, "share content: clients", "a gfs2 share needs at least one client")


def test_one_cluster_stack_per_host(tmp_path):
    def change(inv):
        block(shares(inv)[0])
        add_share(inv, mount="/srv/other")
        del shares(inv)[1]["export"]
        shares(inv)[1].update(type="ocfs2", device="/dev/vdc", clients=["rs2"])
    found = check(tmp_path, change)
    one(found, "share logs: clients[0]", "rs2 already mounts gfs2 share content; a host runs one cluster stack "
                                         "(corosync+dlm for gfs2, o2cb for ocfs2)")


def test_duplicate_export_on_one_server(tmp_path):
    found = check(tmp_path, lambda inv: add_share(inv, export="/srv/lvs/content"))
    one(found, "share logs: export", "/srv/lvs/content on storage1 is already exported by share content")


# ---- all at once, and without files ----------------------------------------------------------------

def test_every_problem_is_reported_in_one_error(tmp_path):
    def change(inv):
        services(inv)[0]["realservers"][0]["host"] = "rs9"
        shares(inv)[0]["server"] = "storage9"
        hosts(inv, "realservers")["rs2"]["lvs_rip"] = "10.20.0.300/24"
        hosts(inv, "realservers")["rs1"]["lvs_ripp"] = "x"
    assert {p.where for p in check(tmp_path, change)} == {
        "service web: realservers[0].host", "share content: server", "host rs2: lvs_rip", "host rs1: lvs_ripp"}


def test_rules_are_pure_functions_of_the_model():
    def host(name, groups, **fields):
        return model.Host(name=name, groups=frozenset({"all", *groups}), vars={},
                          connection=model.Connection(host=name), **fields)
    cluster = model.Cluster(
        source=Path("memory.yml"),
        hosts={"d1": host("d1", ["directors"], dip=IPv4Interface("10.0.0.1/24")),
               "rs1": host("rs1", ["realservers"], rip=IPv4Interface("10.0.1.11/24"))},
        services=[model.VirtualService(name="web", vip=IPv4Address("10.0.0.10"), port=80, mode="nat",
                                       realservers=[model.RealServerRef(host="rs1")])],
    )
    (problem,) = validate.realserver_subnets(cluster)
    assert problem.where == "service web: realservers[0].host" and problem.file == "<unknown>"
    assert [p.where for p in validate.validate(cluster)] == ["host d1: lvs_dip", "host rs1: lvs_rip",
                                                             "service web: realservers[0].host"]
