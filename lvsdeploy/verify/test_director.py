"""Directors: IPVS loaded, addresses present, forwarding where NAT needs it, the table equal to the inventory,
and all of it persisted for the next boot."""

from lvsdeploy import desired
from lvsdeploy.facts.ipvs import parse_rules

from .checks import addresses, expected_rules, failure, ipvs_rules, module_present, sysctl


def test_ipvs_modules_loaded(director, remote, cluster):
    host = remote(director.name)
    wanted = desired.director_vars(cluster, director)["lvs_director_modules"]
    missing = [m for m in wanted if not module_present(host, m)]
    assert not missing, failure(director.name, "kernel modules", wanted, f"missing {missing}")


def test_dip_and_vips_present(director, remote, cluster):
    found = {a for addrs in addresses(remote(director.name)).values() for a in addrs}
    assert director.dip in found, failure(director.name, "DIP", director.dip, sorted(map(str, found)))
    ips = {a.ip for a in found}
    for svc in cluster.services:
        if svc.vip:
            assert svc.vip in ips, failure(director.name, f"VIP of {svc.name}", svc.vip, sorted(map(str, ips)))


def test_sysctls(director, remote, cluster):
    host = remote(director.name)
    for key, value in desired.director_vars(cluster, director)["lvs_director_sysctls"].items():
        assert sysctl(host, key) == value, failure(director.name, f"sysctl {key}", value, sysctl(host, key))


def test_ipvs_table_equals_inventory(director, remote, expected_ipvs):
    table = parse_rules(remote(director.name).check_output("ipvsadm -Sn"))
    found, wanted = ipvs_rules(table), expected_rules(expected_ipvs)
    assert found == wanted, failure(director.name, "IPVS table", sorted(wanted - found, key=str) or "no extra",
                                    f"missing {sorted(wanted - found, key=str)}, extra {sorted(found - wanted, key=str)}")


def test_persisted_for_boot(director, remote, cluster, expected_ipvs):
    host = remote(director.name)
    rules = parse_rules(host.file("/etc/lvsdeploy/ipvs.rules").content_string)
    assert ipvs_rules(rules) == expected_rules(expected_ipvs), failure(
        director.name, "saved IPVS rules", "the inventory's table", "a different table")
    modules = host.file("/etc/modules-load.d/lvsdeploy.conf").content_string.split()
    for module in desired.director_vars(cluster, director)["lvs_director_modules"]:
        assert module in modules, failure(director.name, "modules-load.d", module, modules)
    for unit in ("lvsdeploy-ipvs.service", "lvsdeploy-network.service"):
        assert host.service(unit).is_enabled, failure(director.name, unit, "enabled", "not enabled")
