"""Directors: IPVS loaded, addresses present, forwarding where NAT needs it, the table equal to the inventory,
and all of it persisted for the next boot. What is expected comes from the inventory through spec.py."""


from . import spec
from .checks import (addresses, checked_rows, failure, ipvs_rows, module_present, sysctl, sysctl_conf,
                     table_difference)


def test_ipvs_modules_loaded(director, remote, cluster):
    host = remote(director.name)
    wanted = spec.director_modules(cluster)
    missing = [m for m in wanted if not module_present(host, m)]
    assert not missing, failure(director.name, "kernel modules", wanted, f"missing {missing}")


def test_dip_and_vips_present(director, remote, cluster):
    found = {a for addrs in addresses(remote(director.name)).values() for a in addrs}
    assert director.dip in found, failure(director.name, "DIP", director.dip, sorted(map(str, found)))
    ips = {str(a.ip) for a in found}
    for vip in spec.director_vips(cluster):
        assert vip in ips, failure(director.name, "VIP", vip, sorted(ips))


def test_sysctls(director, remote, cluster):
    host = remote(director.name)
    for key, value in spec.director_sysctls(cluster).items():
        found = sysctl(host, key)
        assert found == value, failure(director.name, f"sysctl {key}", value, found)


def test_ipvs_table_equals_inventory(director, remote, cluster, expected_ipvs):
    host = remote(director.name)
    found = ipvs_rows(host.check_output("ipvsadm -Sn"))
    checker = spec.health_checker(cluster)
    if checker != "none":   # a real server the checker took out is reported, not failed (conftest's summary)
        expected_ipvs = checked_rows(host, director.name, cluster, checker, found)
    assert found == expected_ipvs, failure(director.name, "IPVS table", "the inventory's table",
                                           table_difference(expected_ipvs, found))


def test_health_checker_runs(director, remote, cluster):
    """The inventory's checker runs from its configuration and starts at boot; the other one does not run."""
    host = remote(director.name)
    checker = spec.health_checker(cluster)
    for name, unit in spec.CHECKER_UNITS.items():
        service = host.service(unit)
        if name == checker:
            assert service.is_running, failure(director.name, unit, "running", "not running")
            assert service.is_enabled, failure(director.name, unit, "enabled", "not enabled")
            assert host.file(spec.CHECKER_CONFIGS[name]).contains("Managed by lvsdeploy"), failure(
                director.name, spec.CHECKER_CONFIGS[name], "lvsdeploy's configuration", "another file")
        else:
            assert not service.is_running, failure(director.name, unit, f"stopped (the checker is {checker})",
                                                   "running")


def test_persisted_for_boot(director, remote, cluster):
    host = remote(director.name)
    expected = spec.persisted_rows(cluster)
    saved = ipvs_rows(host.file(spec.IPVS_RULES_FILE).content_string)
    assert saved == expected, failure(director.name, f"saved IPVS rules {spec.IPVS_RULES_FILE}",
                                      "the inventory's table" if expected else "nothing (the checker keeps it)",
                                      table_difference(expected, saved))
    modules = host.file(spec.MODULES_FILE).content_string.split()
    for module in spec.director_modules(cluster):
        assert module in modules, failure(director.name, spec.MODULES_FILE, module, modules)
    settings = sysctl_conf(host.file(spec.SYSCTL_FILE).content_string)
    for key, value in spec.director_sysctls(cluster).items():
        assert settings.get(key) == value, failure(director.name, f"{spec.SYSCTL_FILE} {key}", value,
                                                   settings.get(key, "absent"))
    for unit in (spec.IPVS_UNIT, spec.NETWORK_UNIT):
        assert host.service(unit).is_enabled, failure(director.name, unit, "enabled", "not enabled")
