"""DR: client, director and real servers share one L2 segment; real servers answer the client directly."""

from .flow import TopologyFlow
from .lab import ssh


class TestDirectRouting(TopologyFlow):
    MODE = "dr"
    CLUSTER_FS = "gfs2"   # on the storage node's second disk, exported over iSCSI (tests/lab/cluster_fs_checks.py)
    LAB = "ci-dr"
    DIRECTORS = 2   # director2 joins for the failover steps, which come last
    DRIFT = ("sysctl -q -w net.ipv4.conf.all.arp_ignore=0", "sysctl net.ipv4.conf.all.arp_ignore")

    def check_topology(self, lab):
        # Same segment: the client reaches the RIP with no gateway in between.
        route = ssh(self.LAB, "client", f"ip route get {self.rip(lab, 'rs1')}").stdout
        assert " via " not in route and "10.20.0.100" in route
        ssh(self.LAB, "client", f"ping -c1 -W5 {self.rip(lab, 'rs1')}")
