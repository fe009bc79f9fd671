"""Real servers, per mode: DR (VIP on lo, ARP suppressed), TUN (ipip, tunl0 with the VIP, rp_filter relaxed),
NAT (default route via the DIP); all persisted for the next boot."""

import json
from ipaddress import IPv4Interface

import pytest

from lvsdeploy import desired

from .checks import addresses, failure, module_present, sysctl


def _vars(cluster, realserver):
    return desired.realserver_vars(cluster, realserver)


def test_rip_present(realserver, remote):
    found = {a for addrs in addresses(remote(realserver.name)).values() for a in addrs}
    assert realserver.rip in found, failure(realserver.name, "RIP", realserver.rip, sorted(map(str, found)))


def test_mode_sysctls(realserver, remote, cluster):
    host = remote(realserver.name)
    for key, value in _vars(cluster, realserver)["lvs_realserver_sysctls"].items():
        assert sysctl(host, key) == value, failure(realserver.name, f"sysctl {key}", value, sysctl(host, key))


def test_dr_vips_on_loopback(realserver, remote, cluster):
    vips = _vars(cluster, realserver)["lvs_lo_vips"]
    if not vips:
        pytest.skip("no DR service on this real server")
    lo = addresses(remote(realserver.name)).get("lo", [])
    for vip in vips:
        assert IPv4Interface(f"{vip}/32") in lo, failure(realserver.name, "VIP on lo", f"{vip}/32", lo)


def test_tun_tunnel(realserver, remote, cluster):
    vips = _vars(cluster, realserver)["lvs_tunl0_vips"]
    if not vips:
        pytest.skip("no TUN service on this real server")
    host = remote(realserver.name)
    assert module_present(host, "ipip"), failure(realserver.name, "ipip module", "loaded", "not loaded")
    link = json.loads(host.check_output("ip -j link show tunl0"))[0]
    assert "UP" in link["flags"], failure(realserver.name, "tunl0", "up", link["flags"])
    tunl0 = addresses(host).get("tunl0", [])
    for vip in vips:
        assert IPv4Interface(f"{vip}/32") in tunl0, failure(realserver.name, "VIP on tunl0", f"{vip}/32", tunl0)


def test_nat_default_route_via_dip(realserver, remote, cluster):
    gateway = _vars(cluster, realserver)["lvs_nat_gateway"]
    if not gateway:
        pytest.skip("no NAT service on this real server")
    routes = json.loads(remote(realserver.name).check_output("ip -j -4 route show default"))
    gateways = [r.get("gateway") for r in routes]
    assert gateways == [gateway], failure(realserver.name, "default route", f"via {gateway}", gateways or "none")


def test_service_ports_listening(realserver, remote, cluster):
    host = remote(realserver.name)
    for svc in cluster.services_for(realserver.name):
        port = next(r.port for r in svc.realservers if r.host == realserver.name)
        if svc.protocol == "tcp":
            listening = host.socket(f"tcp://0.0.0.0:{port}").is_listening or host.socket(f"tcp://:::{port}").is_listening
            assert listening, failure(realserver.name, f"{svc.name} port", f"tcp {port} listening", "nothing")


def test_persisted_for_boot(realserver, remote, cluster):
    host = remote(realserver.name)
    saved = host.file("/etc/sysctl.d/90-lvsdeploy.conf").content_string
    for key, value in _vars(cluster, realserver)["lvs_realserver_sysctls"].items():
        assert f"{key} = {value}" in saved, failure(realserver.name, "sysctl.d", f"{key} = {value}", "absent")
    boot = host.file("/usr/local/sbin/lvsdeploy-network").content_string
    for vip in _vars(cluster, realserver)["lvs_lo_vips"] + _vars(cluster, realserver)["lvs_tunl0_vips"]:
        assert f"{vip}/32" in boot, failure(realserver.name, "boot script", f"{vip}/32", "absent")
    assert host.service("lvsdeploy-network.service").is_enabled, failure(
        realserver.name, "lvsdeploy-network.service", "enabled", "not enabled")
