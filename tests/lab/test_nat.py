"""NAT: real servers live on a private segment only; the client cannot reach them directly."""

from .flow import TEST_ALL, TopologyFlow
from .lab import ssh


class TestNat(TopologyFlow):
    MODE = "nat"
    LAB = "ci-nat"
    # director2 joins for the failover steps, which come last: in CI (time) failover is shown on the DR lab only, so
    # the NAT lab boots it (and shows its floating gateway) only with LVSDEPLOY_TEST_ALL=1
    DIRECTORS = 2 if TEST_ALL else 1
    DRIFT = ("ip route del default", "route default")

    def check_topology(self, lab):
        rip = self.rip(lab, "rs1")
        direct = ssh(self.LAB, "client", f"curl -s --max-time 5 http://{rip}/whoami", check=False)
        assert direct.returncode != 0, "the client must not reach a real server directly"
        ssh(self.LAB, "director1", f"ping -c1 -W5 {rip}")   # the director does
