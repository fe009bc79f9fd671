"""TUN: real servers live on another subnet than the director, reached through a router."""

from .flow import TopologyFlow
from .lab import ssh


class TestTunnel(TopologyFlow):
    MODE = "tun"
    CLUSTER_FS = "ocfs2"   # on the storage node's second disk, exported over iSCSI (tests/lab/cluster_fs_checks.py)
    LAB = "ci-tun"
    DRIFT = ("sysctl -q -w net.ipv4.conf.tunl0.rp_filter=1", "sysctl net.ipv4.conf.tunl0.rp_filter")

    def check_topology(self, lab):
        rip = self.rip(lab, "rs1")
        route = ssh(self.LAB, "director1", f"ip route get {rip}").stdout
        assert "via 10.30.1.1" in route, f"the director must reach real servers through the router: {route}"
        ssh(self.LAB, "director1", f"ping -c1 -W5 {rip}")
