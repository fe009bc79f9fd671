"""verify/checks.py: the readers that turn what a host prints into data verify compares (no host needed)."""

import socket
import subprocess
import threading
from types import SimpleNamespace

import pytest

from lvsdeploy.facts import Mount
from lvsdeploy.verify import checks
from lvsdeploy.verify.spec import ShareMount
from lvsdeploy.verify.test_traffic import _assert_split, _expected_shares

WANTED = ShareMount(src="10.20.0.5:/srv/lvs/content", path="/var/www/html/shared", fstype="nfs",
                    opts="rw,hard,vers=4.2,_netdev,bg")
KERNEL_OPTS = "rw,relatime,vers=4.2,rsize=131072,wsize=131072,namlen=255,hard,proto=tcp,addr=10.20.0.5"


class FakeHost:
    """Answers `run` like testinfra, remembering the commands."""

    def __init__(self, stdout: str = "", rc: int = 0):
        self.commands, self.stdout, self.rc = [], stdout, rc

    def run(self, command):
        self.commands.append(command)
        return SimpleNamespace(stdout=self.stdout, rc=self.rc)


def test_sysctl_reads_proc_sys_with_sysctls_slash_rule():
    host = FakeHost("2\n")
    assert checks.sysctl(host, "net.ipv4.conf.all.arp_announce") == "2"
    assert checks.sysctl(host, "net.ipv4.conf.eth0/100.rp_filter")   # VLAN eth0.100 == "2"
    assert host.commands == ["cat /proc/sys/net/ipv4/conf/all/arp_announce",
                             "cat /proc/sys/net/ipv4/conf/eth0.100/rp_filter"]


def test_sysctl_of_a_missing_key_reads_as_absent():
    assert checks.sysctl(FakeHost("", rc=1), "net.ipv4.conf.tunl0.rp_filter") == "absent"


def test_sysctl_conf_takes_both_spellings_and_skips_comments():
    text = "# Managed by lvsdeploy\n\nnet.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack=0\n; old\n"
    assert checks.sysctl_conf(text) == {"net.ipv4.ip_forward": "1", "net.ipv4.vs.conntrack": "0"}


def test_fstab_entries_unescape_paths_and_tell_lvsdeploy_lines():
    text = ("# /etc/fstab\nUUID=abc / ext4 defaults 0 1\n"
            "10.20.0.5:/srv/lvs/content /var/www/html/my\\040files/ nfs rw,bg 0 0 # lvsdeploy\n")
    assert checks.fstab_entries(text) == [
        ("UUID=abc", "/", "ext4", "defaults", False),
        ("10.20.0.5:/srv/lvs/content", "/var/www/html/my files", "nfs", "rw,bg", True),
    ]


def test_mount_matches_on_what_the_kernel_echoes():
    assert checks.mount_matches(WANTED, Mount(WANTED.src, WANTED.path, "nfs4", KERNEL_OPTS))


def test_mount_differs_on_source_read_only_hard_or_version():
    assert not checks.mount_matches(WANTED, Mount("10.20.0.6:/srv/lvs/content", WANTED.path, "nfs4", KERNEL_OPTS))
    assert not checks.mount_matches(WANTED, Mount(WANTED.src, WANTED.path, "nfs4", KERNEL_OPTS.replace("rw,", "ro,")))
    assert not checks.mount_matches(WANTED, Mount(WANTED.src, WANTED.path, "nfs4", KERNEL_OPTS.replace("hard", "soft")))
    assert not checks.mount_matches(WANTED, Mount(WANTED.src, WANTED.path, "nfs4", KERNEL_OPTS.replace("4.2", "4.1")))
    assert not checks.mount_matches(WANTED, Mount(WANTED.src, WANTED.path, "ext4", KERNEL_OPTS))


def test_mount_version_4_is_met_by_the_negotiated_minor_version():
    wanted = ShareMount(WANTED.src, WANTED.path, "nfs", "rw,nfsvers=4")
    assert checks.mount_matches(wanted, Mount(WANTED.src, WANTED.path, "nfs4", KERNEL_OPTS))


def test_nfs_exports_from_etab():
    host = SimpleNamespace(run=lambda command: SimpleNamespace(stdout=(
        "/srv/lvs/content\t10.20.0.21/32(rw,sync,wdelay,hide,no_subtree_check,root_squash)\n"
        "/srv/lvs/content\t10.20.0.22/32(rw,sync,no_subtree_check,root_squash)\n")))
    table = checks.nfs_exports(host)
    assert set(table["/srv/lvs/content"]) == {"10.20.0.21/32", "10.20.0.22/32"}
    assert {"rw", "sync", "root_squash"} <= table["/srv/lvs/content"]["10.20.0.22/32"]


def test_udp_probe_counts_answers_and_silence():
    """The probe run here against a local responder that stays silent for every third datagram."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def answer_two_of_three():
        for n in range(1, 7):
            _, client = server.recvfrom(64)
            if n % 3:
                server.sendto(f"rs{n % 2 + 1}\n".encode(), client)

    threading.Thread(target=answer_two_of_three, daemon=True).start()
    command = checks.udp_probe_command("127.0.0.1", server.getsockname()[1], 6, 0.5)
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    server.close()
    assert out.split() == ["answered", "answered", "-", "answered", "answered", "-"]


def test_udp_probe_sends_a_dns_query_to_port_53():
    # DNS servers answer only queries: to port 53 the probe sends one (1 question: . NS IN)
    assert checks.DNS_ROOT_QUERY.hex() in checks.udp_probe_command("10.20.0.10", 53, 1, 1)
    assert checks.DNS_ROOT_QUERY[4:6] == b"\x00\x01" and checks.DNS_ROOT_QUERY[-5:] == b"\x00\x00\x02\x00\x01"
    assert checks.TEXT_PROBE.hex() in checks.udp_probe_command("10.20.0.10", 5005, 1, 1)


def test_rr_splits_evenly_whatever_the_weights_and_wrr_by_weight():
    weights = {"rs1": 1, "rs2": 3, "rs3": 0}
    assert _expected_shares("rr", weights, 20) == {"rs1": 10, "rs2": 10, "rs3": 0}
    assert _expected_shares("wrr", weights, 20) == {"rs1": 5, "rs2": 15, "rs3": 0}
    assert _expected_shares("rr", {"rs1": 0}, 0) == {}


def service_like(scheduler: str, persistence: int | None = None, upper: int | None = None):
    realservers = [SimpleNamespace(upper_threshold=upper), SimpleNamespace(upper_threshold=None)]
    return SimpleNamespace(name="web", scheduler=scheduler, persistence=persistence, realservers=realservers)


@pytest.mark.parametrize("service", [service_like("sh"), service_like("rr", persistence=300), service_like("sed"),
                                     service_like("rr", upper=3), service_like("mh")],
                         ids=["sh", "persistence", "sed", "threshold", "mh"])
def test_one_client_on_one_server_is_right_where_the_scheduler_keeps_it_there(service):
    # one client, one source address: these send every request to one server, and verify must not fail them
    _assert_split("director1", service, {"rs1": 0, "rs2": 20}, {"rs1": 1, "rs2": 1}, 20)


@pytest.mark.parametrize("scheduler", ["rr", "wrr", "lc", "wlc"])
def test_a_server_left_out_by_a_spreading_scheduler_fails(scheduler):
    with pytest.raises(AssertionError, match="rs1 reached"):
        _assert_split("director1", service_like(scheduler), {"rs1": 0, "rs2": 20}, {"rs1": 1, "rs2": 1}, 20)


def test_a_weight_0_server_stays_idle_under_any_scheduler():
    with pytest.raises(AssertionError, match="weight 0"):
        _assert_split("director1", service_like("sh"), {"rs1": 5, "rs2": 15}, {"rs1": 0, "rs2": 1}, 20)


# ---- keepalived's VRRP state from its journal --------------------------------------------------------------

JOURNAL = """since 40000000
[   12.100000] director1 Keepalived_vrrp[301]: (VI_LVS) Entering BACKUP STATE
[   15.500000] director1 Keepalived_vrrp[301]: (VI_LVS) Entering MASTER STATE
[   41.000000] director1 Keepalived_vrrp[402]: (VI_LVS) Entering BACKUP STATE (init)
[   52.300000] director1 Keepalived_vrrp[402]: (VI_LVS) Entering MASTER STATE
"""


def test_vrrp_transitions_are_those_since_keepalived_last_started():
    assert checks.vrrp_transitions(JOURNAL) == [(41.0, "BACKUP"), (52.3, "MASTER")]


def test_vrrp_transitions_without_a_start_time_take_the_whole_boot():
    # keepalived inactive: systemd reports 0, so the boot's own entries are all there is
    assert checks.vrrp_transitions(JOURNAL.replace("since 40000000", "since 0"))[0] == (12.1, "BACKUP")
    assert checks.vrrp_transitions("since \n") == []


def test_vrrp_state_is_the_last_transition():
    class Host:
        def run(self, command):
            assert "-b 0" in command and "short-monotonic" in command
            return type("Result", (), {"stdout": JOURNAL})()
    assert checks.vrrp_state(Host()) == "MASTER"
