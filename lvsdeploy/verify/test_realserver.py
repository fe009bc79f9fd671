"""Real servers, per mode: DR (VIP on lo, ARP suppressed), TUN (ipip, tunl0 with the VIP, rp_filter relaxed),
NAT (default route via the DIP, with failover via lvs_failover.gateway); service ports listening (TCP and UDP);
all persisted for the next boot. What is expected comes from the inventory through spec.py."""

import json
from ipaddress import IPv4Interface

import pytest

from . import spec
from .checks import DOWN_BY_HEALTH_CHECK, addresses, failure, module_present, sysctl, sysctl_conf


def _modes(cluster, realserver) -> set[str]:
    return spec.realserver_modes(cluster, realserver)


def test_rip_present(realserver, remote):
    found = {a for addrs in addresses(remote(realserver.name)).values() for a in addrs}
    assert realserver.rip in found, failure(realserver.name, "RIP", realserver.rip, sorted(map(str, found)))


def test_mode_sysctls(realserver, remote, cluster):
    host = remote(realserver.name)
    for key, value in spec.realserver_sysctls(_modes(cluster, realserver)).items():
        found = sysctl(host, key)
        assert found == value, failure(realserver.name, f"sysctl {key}", value, found)


def test_dr_vips_on_loopback(realserver, remote, cluster):
    vips = spec.realserver_vips(cluster, realserver).get("lo", [])
    if not vips:
        pytest.skip("no DR service on this real server")
    lo = addresses(remote(realserver.name)).get("lo", [])
    for vip in vips:
        assert IPv4Interface(f"{vip}/32") in lo, failure(realserver.name, "VIP on lo", f"{vip}/32",
                                                         sorted(map(str, lo)))


def test_tun_tunnel(realserver, remote, cluster):
    vips = spec.realserver_vips(cluster, realserver).get("tunl0", [])
    if not vips:
        pytest.skip("no TUN service on this real server")
    host = remote(realserver.name)
    for module in spec.realserver_modules(_modes(cluster, realserver)):
        assert module_present(host, module), failure(realserver.name, f"{module} module", "loaded", "not loaded")
    link = json.loads(host.check_output("ip -j link show tunl0"))[0]
    assert "UP" in link["flags"], failure(realserver.name, "tunl0", "up", link["flags"])
    tunl0 = addresses(host).get("tunl0", [])
    for vip in vips:
        assert IPv4Interface(f"{vip}/32") in tunl0, failure(realserver.name, "VIP on tunl0", f"{vip}/32",
                                                            sorted(map(str, tunl0)))


def test_nat_default_route_through_director(realserver, remote, cluster):
    gateway = spec.nat_gateway(cluster, realserver)
    if not gateway:
        pytest.skip("no NAT service on this real server")
    routes = json.loads(remote(realserver.name).check_output("ip -j -4 route show default"))
    gateways = [r.get("gateway") for r in routes]
    assert gateways == [gateway], failure(realserver.name, "default route", f"via {gateway}", gateways or "none")


def _listening(host, protocol: str, port: int) -> bool:
    # IPv4 wildcard, or an IPv6 wildcard socket that also takes IPv4 (nginx's default)
    return (host.socket(f"{protocol}://0.0.0.0:{port}").is_listening
            or host.socket(f"{protocol}://:::{port}").is_listening)


def test_service_ports_listening(realserver, remote, cluster):
    host = remote(realserver.name)
    checked = _checked_ports(cluster, realserver)
    for protocol, port in spec.listening_ports(cluster, realserver):
        if protocol not in ("tcp", "udp"):
            continue   # testinfra reads TCP and UDP sockets only
        if not _listening(host, protocol, port) and (protocol, port) in checked:
            # the application is down and its health check keeps it out of rotation: reported, not failed
            DOWN_BY_HEALTH_CHECK.append(f"{realserver.name}: nothing listens on {protocol} port {port}; its "
                                        f"health check ({spec.health_checker(cluster)}) keeps it out of rotation")
            continue
        assert _listening(host, protocol, port), failure(realserver.name, f"{protocol} port {port}",
                                                         f"{protocol} {port} listening", "nothing")


def _checked_ports(cluster, realserver) -> set[tuple[str, int]]:
    """(protocol, port) of this real server in services a running health checker tests."""
    if spec.health_checker(cluster) == "none":
        return set()
    return {(svc.protocol, rs.port) for svc in cluster.services_for(realserver.name) for rs in svc.realservers
            if rs.host == realserver.name and spec.probe(svc, "", rs.port) is not None}


def test_persisted_for_boot(realserver, remote, cluster):
    host = remote(realserver.name)
    modes = _modes(cluster, realserver)
    settings = sysctl_conf(host.file(spec.SYSCTL_FILE).content_string)
    for key, value in spec.realserver_sysctls(modes).items():
        assert settings.get(key) == value, failure(realserver.name, f"{spec.SYSCTL_FILE} {key}", value,
                                                   settings.get(key, "absent"))
    wanted_modules = spec.realserver_modules(modes)
    if wanted_modules:
        modules = host.file(spec.MODULES_FILE).content_string.split()
        for module in wanted_modules:
            assert module in modules, failure(realserver.name, spec.MODULES_FILE, module, modules)
    boot = host.file(spec.NETWORK_SCRIPT).content_string
    for device, vips in spec.realserver_vips(cluster, realserver).items():
        for vip in vips:
            # the address and the device it must come back on: a VIP restored on the wrong device answers ARP
            placed = [line.split() for line in boot.splitlines() if f" {vip}/32 " in f" {line} "]
            assert any(words[-2:] == ["dev", device] or words[-2:] == ["dev", f"'{device}'"] for words in placed), \
                failure(realserver.name, f"boot script {spec.NETWORK_SCRIPT}", f"{vip}/32 on {device}",
                        [" ".join(words) for words in placed] or "absent")
    gateway = spec.nat_gateway(cluster, realserver)
    if gateway:
        routed = any(f" via {gateway} " in f" {line} " for line in boot.splitlines())
        assert routed, failure(realserver.name, f"boot script {spec.NETWORK_SCRIPT}",
                               f"the default route via {gateway}", "absent")
    assert host.service(spec.NETWORK_UNIT).is_enabled, failure(
        realserver.name, spec.NETWORK_UNIT, "enabled", "not enabled")
