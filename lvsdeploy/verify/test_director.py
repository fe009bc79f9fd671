"""Directors: IPVS loaded, addresses present, forwarding where NAT needs it, the table equal to the inventory,
and all of it persisted for the next boot; with two or more directors, the VIPs on exactly one of them (the
master) and keepalived's VRRP on each. What is expected comes from the inventory through spec.py."""

import pytest

from . import spec
from .checks import (FAILOVER_STATE, SERVICE_SWITCHES, addresses, checked_rows, drained_rows, failure, held_addresses,
                     ipvs_rows, module_present, sync_daemons, sysctl, sysctl_conf, table_difference, threshold_rows,
                     vrrp_state)


def test_ipvs_modules_loaded(director, remote, cluster):
    host = remote(director.name)
    wanted = spec.director_modules(cluster)
    missing = [m for m in wanted if not module_present(host, m)]
    assert not missing, failure(director.name, "kernel modules", wanted, f"missing {missing}")


def test_dip_and_vips_present(director, remote, cluster):
    found = {a for addrs in addresses(remote(director.name)).values() for a in addrs}
    assert director.dip in found, failure(director.name, "DIP", director.dip, sorted(map(str, found)))
    if spec.failover(cluster):
        return   # the VIPs are on the master only: test_each_floating_address_on_exactly_one_director
    ips = {str(a.ip) for a in found}
    for vip in spec.director_vips(cluster):
        assert vip in ips, failure(director.name, "VIP", vip, sorted(ips))


def test_each_floating_address_on_exactly_one_director(cluster, remote):
    """With failover the master holds every VIP (and a NAT gateway), no backup holds any: an address on two
    directors is answered by both, one on none by nobody, and a split sends NAT replies to a director that never
    saw the request."""
    if not spec.failover(cluster):
        pytest.skip("one director: no failover")
    floating = spec.floating_addresses(cluster)
    if not floating:
        pytest.skip("no VIP to hold")
    held = {d.name: held_addresses(remote(d.name)) for d in cluster.directors()}
    holders = {a: [name for name, ips in held.items() if a in ips] for a in floating}
    for address, names in holders.items():
        assert len(names) == 1, failure(", ".join(held), f"floating address {address}", "on exactly one director",
                                        names or "on none")
    masters = {names[0] for names in holders.values()}
    assert len(masters) == 1, failure(", ".join(held), "floating addresses", "all on one director (the master)",
                                      {a: names[0] for a, names in holders.items()})
    master = masters.pop()
    FAILOVER_STATE.append(f"{master} is master (holds {', '.join(floating)}); "
                          f"backups: {', '.join(name for name in held if name != master)}")
    # keepalived agrees: the holder is its MASTER, every other director a BACKUP able to take over (not FAULT),
    # and each runs the sync daemon of its role
    for name in held:
        host, role = remote(name), "MASTER" if name == master else "BACKUP"
        assert vrrp_state(host) == role, failure(name, "keepalived VRRP state", role, vrrp_state(host))
        if spec.failover_settings(cluster).sync_daemon:
            daemons = sync_daemons(host)
            assert role.lower() in daemons, failure(name, "IPVS sync daemon", f"{role.lower()} running",
                                                    sorted(daemons) or "none")


def test_vrrp_configured(director, remote, cluster):
    """With failover keepalived runs VRRP (and the connection sync daemon) on every director, backups too."""
    wanted = spec.vrrp_directives(cluster)
    if not wanted:
        pytest.skip("one director: no failover")
    path = spec.CHECKER_CONFIGS["keepalived"]
    lines = [" ".join(line.split()) for line in remote(director.name).file(path).content_string.splitlines()]
    # as directives, at the start of a line: a comment naming them does not count
    missing = [w for w in wanted if not any(line == w or line.startswith(w + " ") for line in lines)]
    assert not missing, failure(director.name, path, wanted, f"missing {missing}")


def test_sysctls(director, remote, cluster):
    host = remote(director.name)
    for key, value in spec.director_sysctls(cluster).items():
        found = sysctl(host, key)
        assert found == value, failure(director.name, f"sysctl {key}", value, found)


def test_ipvs_timeouts(director, remote, cluster):
    """lvs_ipvs.timeouts hold now and are set again at boot."""
    wanted = spec.ipvs_timeouts(cluster)
    if not wanted:
        pytest.skip("lvs_ipvs.timeouts sets none")
    host = remote(director.name)
    line = host.check_output("ipvsadm -L --timeout")   # "Timeout (tcp tcpfin udp): 900 120 300"
    found = dict(zip(("tcp", "tcpfin", "udp"), line.rpartition(":")[2].split()))
    for key, value in wanted.items():
        assert found.get(key) == str(value), failure(director.name, f"IPVS {key} timeout", value, line)
    boot = [line.split() for line in host.file(spec.NETWORK_SCRIPT).content_string.splitlines()]
    at_boot = next((dict(zip(("tcp", "tcpfin", "udp"), words[2:])) for words in boot if words[:2] == ["ipvsadm", "--set"]),
                   {})
    assert all(at_boot.get(key) == str(value) for key, value in wanted.items()), failure(
        director.name, f"boot script {spec.NETWORK_SCRIPT}", f"ipvsadm --set with {wanted}", at_boot or "no such line")


def test_fullnat_source_nat(director, remote, cluster):
    """Each fullnat service's connections leave for the real servers with the DIP as source, by lvsdeploy's chain,
    which POSTROUTING jumps to; the boot script loads it again."""
    wanted = spec.source_nat(cluster, director)
    if not wanted:
        pytest.skip("no fullnat service")
    host = remote(director.name)
    rules = [line.split() for line in host.run(f"iptables -w 5 -t nat -S {spec.FULLNAT_CHAIN}").stdout.splitlines()]
    for nat in wanted:
        proto = {"tcp": "6", "udp": "17", "sctp": "132"}[nat.protocol]
        found = [r for r in rules if option(r, "--vaddr") in (nat.vip, f"{nat.vip}/32") and option(r, "--vport") == str(nat.port)
                 and option(r, "--vproto") in (proto, nat.protocol) and option(r, "--to-source") == nat.to
                 and option(r, "-j") == "SNAT"]
        assert found, failure(director.name, f"nat chain {spec.FULLNAT_CHAIN}",
                              f"SNAT of {nat.protocol} {nat.vip}:{nat.port} to {nat.to}", rules)
    jumped_to_and_loaded_at_boot(director, host, "nat", "POSTROUTING", spec.FULLNAT_CHAIN)


def test_fwmark_marks(director, remote, cluster):
    """Packets to each fwmark service's VIP and ports get its mark in lvsdeploy's chain, which PREROUTING jumps to;
    the boot script loads it again."""
    wanted = spec.marks(cluster)
    if not wanted:
        pytest.skip("no fwmark service names its ports")
    host = remote(director.name)
    rules = [line.split() for line in host.run(f"iptables -w 5 -t mangle -S {spec.FWMARK_CHAIN}").stdout.splitlines()]
    for mark in wanted:
        found = [r for r in rules if option(r, "-d") in (mark.vip, f"{mark.vip}/32") and option(r, "-p") == mark.protocol
                 and option(r, "--dports") == ",".join(map(str, mark.ports)) and option(r, "-j") == "MARK"
                 and option(r, "--set-xmark") == f"{mark.mark:#x}/0xffffffff"]
        assert found, failure(director.name, f"mangle chain {spec.FWMARK_CHAIN}",
                              f"mark {mark.mark} on {mark.protocol} {mark.vip} ports {list(mark.ports)}", rules)
    extra = [r for r in rules if r[:1] == ["-A"]][len(wanted):]   # a rule of ours the inventory no longer has
    assert not extra, failure(director.name, f"mangle chain {spec.FWMARK_CHAIN}", f"{len(wanted)} rule(s)", rules)
    jumped_to_and_loaded_at_boot(director, host, "mangle", "PREROUTING", spec.FWMARK_CHAIN)


def jumped_to_and_loaded_at_boot(director, host, table: str, hook: str, chain: str) -> None:
    """lvsdeploy's own chain is jumped to from its hook, and the network boot script loads it into its table."""
    jumps = [line.strip() for line in host.run(f"iptables -w 5 -t {table} -S {hook}").stdout.splitlines()]
    assert f"-A {hook} -j {chain}" in jumps, failure(director.name, f"{table} {hook}", f"a jump to {chain}", jumps)
    boot = host.file(spec.NETWORK_SCRIPT).content_string
    assert chain in boot and f"*{table}" in boot and "iptables-restore" in boot, failure(
        director.name, f"boot script {spec.NETWORK_SCRIPT}", f"loads {chain} into {table}", "does not")


def option(words: list[str], name: str) -> str | None:
    """The value after `name` in an `iptables -S` rule, None when absent."""
    return words[words.index(name) + 1] if name in words[:-1] else None


def test_ipvs_table_equals_inventory(director, remote, cluster, expected_ipvs):
    host = remote(director.name)
    found = ipvs_rows(host.check_output("ipvsadm -Sn"))
    checker = spec.health_checker(cluster)
    drained = drained_rows(host, director.name, cluster)   # `lvsdeploy drain`: weight 0 until undrained
    if checker != "none":   # a real server the checker took out is reported, not failed (conftest's summary)
        expected_ipvs = checked_rows(host, director.name, cluster, checker, found, drained)
    else:
        expected_ipvs = {drained.get(row, row) for row in expected_ipvs}
    assert found == expected_ipvs, failure(director.name, "IPVS table", "the inventory's table",
                                           table_difference(expected_ipvs, found))


def test_connection_thresholds(director, remote, cluster):
    """Each real server's upper/lower_threshold is in the live table (`ipvsadm -Sn` does not show them) and, when
    lvsdeploy keeps the table, in the rules restored at boot."""
    wanted = spec.thresholds(cluster)
    if not wanted:
        pytest.skip("no real server has a connection threshold")
    host = remote(director.name)
    found = threshold_rows(host.check_output("ipvsadm -Ln --thresholds"))
    for key, value in wanted.items():
        if spec.health_checker(cluster) != "none" and key not in found:
            continue   # the checker took this real server out: it has no row (conftest's summary reports it)
        assert found.get(key) == value, failure(director.name, f"{key[0]} -> {key[1]} thresholds",
                                                "upper %d, lower %d" % value, found.get(key, "no such real server"))
    if spec.persisted_rows(cluster):   # the line of that service and real server, whatever its weight (a drain)
        switches = {protocol: switch for switch, protocol in SERVICE_SWITCHES.items()}
        saved = [line.split() for line in host.file(spec.IPVS_RULES_FILE).content_string.splitlines()]
        for (label, dest), (upper, lower) in wanted.items():
            protocol, _, service = label.partition(" ")
            line = next((w for w in saved if w[:3] == ["-a", switches[protocol], service] and option(w, "-r") == dest),
                        [])
            expected = f"-x {upper}" + (f" -y {lower}" if lower else "")
            assert option(line, "-x") == str(upper) and option(line, "-y") == (str(lower) if lower else None), failure(
                director.name, f"saved IPVS rules {spec.IPVS_RULES_FILE}", f"{expected} for {label} -> {dest}",
                " ".join(line) or "no line")


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
    if spec.failover(cluster):
        # keepalived adds them on the master; a backup restoring one at boot would hold it beside the master
        boot = host.file(spec.NETWORK_SCRIPT).content_string
        restored = [a for a in spec.floating_addresses(cluster) if any(f" {a}/" in f" {line} " for line in
                                                                       boot.splitlines())]
        assert not restored, failure(director.name, f"boot script {spec.NETWORK_SCRIPT}",
                                     "no floating address (keepalived's)", restored)
