"""One topology, booted once, exercised end to end. test_nat/test_dr/test_tun pick the topology.

The order is the story a user lives: boot, see the network, apply, verify, apply again (nothing to do),
break things by hand and watch plan show them and apply repair them, change a weight under traffic,
reboot everything and verify with no apply, then tear down and leave nothing behind.

Every step also runs alone (`-k NAME`): a step that needs the cluster applied takes the class fixture
`converged` (one `lvsdeploy apply` per class), and a step that changes the lab leaves it as the inventory says.
"""

import os
import subprocess
import time
from pathlib import Path

import pytest

from rich.console import Console

from lvsdeploy.inventory import load_cluster
from lvsdeploy.lab import control, paths
from lvsdeploy.lab.inventory import UDP_WHOAMI_PORT
from lvsdeploy.verify.checks import udp_probe_command

from . import (cluster_fs_checks, day2_checks, failover_checks, fullnat_checks, health_checks, installed, real_hosts,
               scheduler_checks, storage_checks)
from .lab import PROJECT_DIR, address, cli, edited_inventory, molecule, ssh, whoami_counts


# Steps CI leaves out to fit its 90 minutes on a slow machine (2 cores, TCG); `LVSDEPLOY_TEST_ALL=1 scripts/test`
# runs them too. Each says what it would add over the steps CI runs.
TEST_ALL = os.environ.get("LVSDEPLOY_TEST_ALL") == "1"


def not_in_ci(what: str) -> None:
    if not TEST_ALL:
        pytest.skip(f"not in CI (time): {what}; LVSDEPLOY_TEST_ALL=1 runs it")


class TopologyFlow:
    MODE = ""
    LAB = ""
    DRIFT = ("", "")   # a hand-made change on rs1, and the resource plan must name

    # --- the lab itself --------------------------------------------------------------------------------
    def test_every_vm_answers_ssh_with_its_name(self, lab):
        for name in lab.ports:
            assert ssh(self.LAB, name, "hostname").stdout.strip() == name

    def test_management_nic_has_no_default_route(self, lab):
        for name in lab.ports:
            routes = ssh(self.LAB, name, "ip -4 route show default").stdout.strip()
            assert routes == "", f"{name} has a default route before lvsdeploy ran: {routes}"

    def test_topology_property(self, lab):
        self.check_topology(lab)

    def check_topology(self, lab):
        raise NotImplementedError

    def test_realservers_serve_whoami(self, lab):
        for spec in lab.topology.vms:
            if spec.http:
                body = ssh(self.LAB, spec.name, "curl -s --max-time 5 http://127.0.0.1/whoami").stdout.strip()
                assert body == spec.name
                # the UDP whoami the inventory's second service balances, asked on the real server itself
                udp = ssh(self.LAB, spec.name, udp_probe_command("127.0.0.1", UDP_WHOAMI_PORT, 1, 5)).stdout.strip()
                assert udp == "answered", f"{spec.name}: udp 127.0.0.1:{UDP_WHOAMI_PORT} did not answer"

    # --- the engine on it ------------------------------------------------------------------------------
    def test_validate(self, inventory):
        result = cli("validate", str(inventory))
        assert result.returncode == 0 and "valid" in result.stdout

    def test_first_apply_changes_and_converges(self, converged):
        assert converged.returncode == 2, "the first apply on fresh VMs must change something"
        recap = converged.stdout.split("Recap")[-1]
        assert "failed" not in recap
        # round trips per host: facts, then for a changed host one apply script that also reads the facts back
        rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in recap.splitlines() if "│" in line]
        trips = {row[0]: (row[1], int(row[3])) for row in rows if len(row) == 6 and row[3].isdigit()}
        assert trips and all(n == (2 if status == "changed" else 1) for status, n in trips.values()), trips

    def test_verify_passes(self, inventory, converged):
        result = cli("verify", str(inventory))
        assert result.returncode == 0

    def test_traffic_reaches_every_realserver(self, lab, converged):
        seen = self.whoami_counts(lab, 20)
        realservers = {v.name for v in lab.topology.vms if v.group == "realservers"}
        assert set(seen) == realservers and all(n == 10 for n in seen.values()), seen

    def test_second_apply_reports_zero_changes(self, inventory, converged):
        plan = cli("plan", "-v", str(inventory))
        assert plan.returncode == 0 and "Plan: 0 changes" in plan.stdout
        assert "(1 round trips)" in plan.stdout
        result = cli("apply", "--yes", "--detailed-exitcode", str(inventory))
        assert result.returncode == 0

    def test_installed_wheel_applies_and_verifies(self, inventory, converged, tmp_path):
        """Shown once, on the DR lab: the wheel built from this checkout, installed in a fresh virtualenv outside
        it, changes the lab (a weight), puts it back, plans nothing more and verifies it."""
        if self.MODE != "dr":
            pytest.skip("shown once, on the DR lab")
        outside = tmp_path / "user"
        outside.mkdir()
        lvsdeploy = installed.install_wheel(outside)

        def heavier(data):
            data["all"]["vars"]["lvs_virtual_services"][0]["realservers"][1]["weight"] = 2
        changed = edited_inventory(inventory, outside / "weights.yml", heavier)
        assert installed.run_installed(lvsdeploy, "validate", inventory, cwd=outside).returncode == 0
        plan = installed.run_installed(lvsdeploy, "plan", changed, cwd=outside)
        assert plan.returncode == 2 and "weight 1 -> 2" in plan.stdout
        assert installed.run_installed(lvsdeploy, "apply", "--yes", changed, cwd=outside).returncode == 0
        assert installed.run_installed(lvsdeploy, "apply", "--yes", inventory, cwd=outside).returncode == 0
        assert installed.run_installed(lvsdeploy, "plan", inventory, cwd=outside).returncode == 0
        assert installed.run_installed(lvsdeploy, "verify", inventory, cwd=outside).returncode == 0

    def test_hand_made_drift_is_shown_then_repaired(self, lab, inventory, converged):
        # Only the TCP service loses rs2: the UDP service on the same VIP stays as it is and is not in the plan.
        rip, vip = self.rip(lab, "rs2"), lab.topology.vip
        ssh(self.LAB, "director1", f"ipvsadm -d -t {vip}:80 -r {rip}:80")
        command, resource = self.DRIFT
        ssh(self.LAB, "rs1", command)
        plan = cli("plan", str(inventory))
        assert plan.returncode == 2
        assert f"+ -> {rip}:80" in plan.stdout and f"ipvs UDP {vip}:" not in plan.stdout
        assert resource in plan.stdout
        assert "Plan: 2 changes on 2 of" in plan.stdout, "plan must show exactly the hand-made changes"
        assert cli("apply", "--yes", str(inventory)).returncode == 0
        assert cli("plan", str(inventory)).returncode == 0

    # --- day-2 operations (issue: status, drain/undrain, JSON), shown on DR -----------------------------------
    # A drain under a long download (drain --wait waits for it; an apply keeps the drain) is shown with a health
    # checker's story (keepalived DR; ldirectord NAT with LVSDEPLOY_TEST_ALL=1). With lvsdeploy's own table the
    # rolling restart drains with --wait under a request loop, and its plan keeps the drain; no long download is
    # shown there (CI time).
    def test_status_reads_the_table_as_the_inventory_says(self, lab, inventory, converged):
        self._dr_only()
        day2_checks.status_reads_the_table(lab, inventory)

    def test_rolling_restart_by_the_readme_recipe(self, lab, inventory, converged):
        self._dr_only()
        day2_checks.rolling_restart(lab, inventory)

    def test_plan_json_lists_what_the_text_plan_shows(self, lab, inventory, converged):
        self._dr_only()
        day2_checks.plan_json_matches_the_text(lab, inventory, self.DRIFT)

    def test_removed_share_is_unmounted_and_unexported_then_restored(self, lab, inventory, tmp_path, converged):
        if self.MODE == "tun":
            pytest.skip("shown on the DR and NAT labs; TUN's storage path is the same NFS over routing")
        if self.MODE == "nat":
            not_in_ci("the same removal in NAT mode (CI shows it on DR)")
        storage_checks.share_removed_then_restored(lab, inventory, tmp_path)

    def test_changed_mount_options_remount(self, lab, inventory, tmp_path, converged):
        if self.MODE != "dr":
            pytest.skip("shown on the DR lab; mounting does not depend on the LVS mode")
        storage_checks.changed_mount_options_remount(lab, inventory, tmp_path)

    def test_rebooted_storage_node_is_served_again(self, lab, inventory, tmp_path, converged):
        if self.MODE != "tun":
            pytest.skip("shown on the TUN lab; the hard NFS mounts recover the same way in every mode")
        not_in_ci("hard NFS mounts recovering when the storage node reboots under them")
        storage_checks.rebooted_storage_node_is_served_again(lab, inventory, tmp_path)

    def test_weight_change_under_traffic_loses_no_request(self, lab, inventory, tmp_path, converged):
        if self.MODE != "dr":
            not_in_ci("the same hitless weight change in this mode (CI shows it on DR)")
        def heavier(data):
            data["all"]["vars"]["lvs_virtual_services"][0]["realservers"][1]["weight"] = 3
        changed = edited_inventory(inventory, tmp_path / "weights.yml", heavier)
        loop = ("end=$(($(date +%s)+40)); ok=0; bad=0; while [ $(date +%s) -lt $end ]; do "
                f"if curl -s -o /dev/null --max-time 5 http://{lab.topology.vip}/whoami; then ok=$((ok+1)); "
                "else bad=$((bad+1)); fi; done; echo $ok $bad")
        traffic = subprocess.Popen(control.ssh_argv(self.LAB, "client", [loop]), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, text=True)
        time.sleep(5)
        assert cli("apply", "--yes", str(changed)).returncode == 0
        ok, bad = map(int, traffic.communicate(timeout=120)[0].split())
        assert ok > 0 and bad == 0, f"{bad} of {ok + bad} requests failed during the re-apply"
        rules = ssh(self.LAB, "director1", "ipvsadm -Sn").stdout.splitlines()
        rs2_web = [line.split() for line in rules if f"-r {self.rip(lab, 'rs2')}:80 " in line]
        assert len(rs2_web) == 1 and rs2_web[0][rs2_web[0].index("-w") + 1] == "3", rules
        assert cli("apply", "--yes", str(inventory)).returncode == 0   # back to the lab's weights

    # --- schedulers, persistence and thresholds (issue: the rest of IPVS), on the NAT lab, which maps ports -------
    def test_schedulers_persistence_and_thresholds_measured_through_the_vip(self, lab, inventory, converged,
                                                                             tmp_path):
        if self.MODE != "nat":
            pytest.skip("shown on the NAT lab: one service per behaviour, each on its own port of the VIP")
        scheduler_checks.measured_through_the_vip(lab, self.LAB, inventory, tmp_path)

    # --- FULLNAT (issue: FULLNAT on stock kernels), on the NAT lab: real servers with no route to the client -----
    def test_fullnat_answers_where_nat_has_no_route_back(self, lab, inventory, converged):
        if self.MODE != "nat":
            pytest.skip("shown on the NAT lab, whose real servers reach the client only through the director")
        # its reboot of rs1 (with the director) also shows a rebooted real server mounting its NFS share again
        fullnat_checks.answers_where_nat_cannot(lab, self.LAB, inventory)

    # --- health checks (issue: a dead real server leaves the rotation by itself), on the DR and NAT labs ---------
    def test_keepalived_health_checks(self, lab, inventory, converged, tmp_path):
        self._health_checks(lab, inventory, tmp_path, "keepalived")

    def test_ldirectord_health_checks(self, lab, inventory, converged, tmp_path):
        self._health_checks(lab, inventory, tmp_path, "ldirectord")

    def test_molecule_scenario_with_a_health_checker(self, lab, inventory, converged):
        """`molecule test -s dr-keepalived`: converge hands the table to keepalived, idempotence and the verifier
        pass on it; then the lab goes back to its own inventory."""
        if self.MODE != "dr":
            pytest.skip("shown once, on the DR lab")
        not_in_ci("molecule's dr-keepalived scenario (CI shows the table handed to keepalived in the keepalived "
                  "step, and molecule's dr scenario on this lab)")
        try:
            result = molecule(self.LAB, "test", "dr-keepalived", PROJECT_DIR, "--destroy", "never")
            assert result.returncode == 0, "molecule test failed (output above)"
            assert "idempotence" in result.stdout.lower()
        finally:
            assert cli("apply", "--yes", str(inventory)).returncode == 0

    def _health_checks(self, lab, inventory, tmp_path, checker):
        # each checker's story is shown once, keepalived's on DR and ldirectord's on NAT (CI time). Not shown:
        # keepalived taking a dead real server out in NAT mode (NAT's failover steps run keepalived, with no real
        # server down), ldirectord in DR mode.
        if (self.MODE, checker) not in (("dr", "keepalived"), ("nat", "ldirectord")):
            pytest.skip("keepalived's story is shown on the DR lab, ldirectord's on the NAT lab")
        vip, rip = lab.topology.vip, self.rip(lab, "rs1")
        sorry = self.dip(lab) if self.MODE == "nat" else "127.0.0.1"
        inventories = health_checks.checker_inventories(inventory, tmp_path, checker, sorry)
        if checker == "ldirectord":   # so that the handover shown is from one checker to the other
            keepalived = health_checks.checker_inventories(inventory, tmp_path, "keepalived")["base"]
            assert cli("apply", "--yes", str(keepalived)).returncode == 0
        try:
            health_checks.apply_under_loop(self.LAB, vip, inventories["base"], f"table handed to {checker}")
            health_checks.dead_realserver_leaves_and_returns(lab, self.LAB, inventories["base"], checker, rip)
            # CI time: ldirectord's quiescent and drain are shown only with LVSDEPLOY_TEST_ALL=1 (keepalived's on DR)
            if checker == "keepalived" or TEST_ALL:
                health_checks.quiescent_keeps_established_connections(lab, self.LAB, inventories, checker, rip)
            health_checks.sorry_server_answers_when_all_are_down(lab, self.LAB, inventories, checker, sorry)
            assert cli("apply", "--yes", str(inventories["base"])).returncode == 0
            health_checks.broken_config_never_reaches_the_director(lab, self.LAB, inventories["base"], checker,
                                                                   tmp_path)
            if checker == "keepalived" or TEST_ALL:
                day2_checks.drain_under_traffic(lab, inventories["base"], checker=checker)
            # CI time: the failover steps show keepalived back at boot (the master powered off, then started)
            if TEST_ALL:
                health_checks.checker_runs_after_director_reboot(lab, self.LAB, inventories["base"], checker)
        finally:
            health_checks.apply_under_loop(self.LAB, vip, inventory, f"table handed back from {checker}")

    # --- real hosts (issue: connect as users do, touch only our own, one apply at a time), shown on DR ---------
    def test_applies_as_a_real_user_through_agent_alias_jump_host_and_sudo(self, lab, inventory, converged,
                                                                             tmp_path):
        self._dr_only()
        real_hosts.applies_as_a_real_user(lab, inventory, tmp_path)

    def test_refuses_unknown_jump_host_key_non_root_and_sudo_password(self, lab, inventory, converged, tmp_path):
        self._dr_only()
        not_in_ci("the refusals (unknown jump host key, non-root without sudo, a sudo password) on real hosts; "
                  "unit tests cover the messages")
        real_hosts.refuses_what_it_cannot_trust_or_do(lab, inventory, tmp_path)

    def test_foreign_ipvs_services_are_left_alone(self, lab, inventory, converged, tmp_path):
        self._dr_only()
        real_hosts.foreign_ipvs_services_are_left_alone(lab, inventory, tmp_path)

    def test_killed_apply_still_finishes_on_the_host(self, lab, inventory, converged, tmp_path):
        self._dr_only()
        real_hosts.killed_apply_still_finishes(lab, inventory, tmp_path)

    def test_concurrent_applies_end_as_the_inventory_says(self, lab, inventory, converged, tmp_path):
        self._dr_only()
        real_hosts.concurrent_applies_end_as_the_inventory_says(lab, inventory, tmp_path)

    def _dr_only(self):
        if self.MODE != "dr":
            pytest.skip("shown once, on the DR lab")

    # --- cluster filesystems (issue: gfs2/ocfs2 on an iSCSI LUN of the storage node): gfs2 on DR, ocfs2 on TUN ----
    # The `cluster_fs` fixture applies the share once (plan shows the mkfs, the next plan is empty, verify passes);
    # the last step takes it away again, so the steps after these see the lab's own inventory.
    def test_cluster_fs_made_once_and_shared(self, cluster_fs):
        assert cluster_fs.uuid
        cluster_fs_checks.concurrent_writes_intact(self.LAB, cluster_fs.fstype)

    def test_cluster_fs_realserver_rebooted_rejoins_without_apply(self, lab, cluster_fs):
        self._dr_only()
        not_in_ci("a rebooted real server rejoining corosync/dlm and mounting gfs2 with no apply")
        cluster_fs_checks.realserver_rebooted_rejoins(lab, cluster_fs.inventory, cluster_fs.fstype, cluster_fs.uuid,
                                                      lambda host: self.rip(lab, host))

    def test_cluster_fs_realserver_powered_off(self, lab, cluster_fs):
        self._dr_only()
        not_in_ci("gfs2 recovering a powered-off real server's journal while the other keeps writing")
        cluster_fs_checks.realserver_powered_off(lab, cluster_fs.inventory, cluster_fs.fstype,
                                                 lambda host: self.rip(lab, host))

    def test_cluster_fs_removed_keeps_its_data(self, lab, cluster_fs):
        try:
            # the filesystem is seen to stay on the LUN; brought back (files intact) on DR with LVSDEPLOY_TEST_ALL=1
            cluster_fs_checks.removed_keeps_data(lab, cluster_fs.base, cluster_fs.inventory, cluster_fs.fstype,
                                                 cluster_fs.uuid, bring_back=self.MODE == "dr" and TEST_ALL)
        finally:
            cluster_fs_checks.leave(cluster_fs.base)

    def test_everything_survives_a_reboot_without_apply(self, lab, inventory, converged):
        # every host lvsdeploy manages (directors of the inventory, real servers, storage); the client, the lab's
        # router and a spare director hold nothing of lvsdeploy's, and rebooting them only costs CI time
        managed = [h.name for h in load_cluster(inventory).hosts.values()
                   if h.is_director or h.is_realserver or h.is_storage]
        control.reboot(Console(), self.LAB, managed)
        assert cli("verify", str(inventory)).returncode == 0
        assert cli("plan", str(inventory)).returncode == 0

    def test_molecule_idempotence_fails_when_converge_always_changes(self, lab, inventory, converged):
        """Shown once, on the DR lab: molecule's idempotence step is derived from lvsdeploy's exit status."""
        if self.MODE != "dr":
            pytest.skip("shown once, on the DR lab")
        not_in_ci("molecule's idempotence step failing on a converge that always changes")
        cwd = Path(__file__).parent / "broken_idempotence"
        create, converge, idempotence = (molecule(self.LAB, step, "broken", cwd)
                                         for step in ("create", "converge", "idempotence"))
        assert create.returncode == 0 and converge.returncode == 0
        assert idempotence.returncode != 0 and "Idempotence test failed" in idempotence.stdout
        assert "lvsdeploy apply" in idempotence.stdout, "molecule must name the task that changed"
        assert cli("apply", "--yes", str(inventory)).returncode == 0   # back to the lab's weights

    def test_molecule_scenario_on_this_lab(self, lab, converged):
        """`molecule test -s MODE --destroy never` against the lab already up: create is a no-op, converge
        applies nothing new, idempotence and the testinfra verifier must pass, and the lab stays up for the
        lab-down step (which must show that `lab down` itself removes everything)."""
        if self.MODE == "nat":
            not_in_ci("molecule's nat scenario (in CI the FULLNAT step runs molecule's nat-fullnat on this lab)")
        if self.MODE == "tun":
            not_in_ci("molecule's tun scenario (its verifier is `lvsdeploy verify`, which the TUN lab runs; CI runs "
                      "molecule's dr scenario on the DR lab)")
        result = molecule(self.LAB, "test", self.MODE, PROJECT_DIR, "--destroy", "never")
        assert result.returncode == 0, "molecule test failed (output above)"
        assert "already up" in result.stdout, "molecule must reuse the lab, not boot another"
        assert "idempotence" in result.stdout.lower(), "the idempotence step must have run"
        stopped = [rt.name for rt in lab.runtimes() if not rt.pid()]
        assert not stopped, f"--destroy never must leave the lab up; stopped: {stopped}"

    # --- director failover (issue: the VIP survives the loss of a director), DR and NAT, on director2 ----------
    # Last: the lab stays a pair afterwards. The `pair` fixture turns the single director into a pair once.
    def test_failover_pair_applied_one_director_at_a_time(self, pair):
        assert pair.exists()

    def test_failover_master_powered_off_then_back(self, pair, lab):
        old, _ = failover_checks.master_lost(lab, self.LAB, pair, "poweroff")
        failover_checks.master_returns(lab, self.LAB, pair, old, "start")

    def test_failover_keepalived_stopped_and_nopreempt(self, pair, lab, tmp_path):
        self._dr_only()
        not_in_ci("failover when keepalived stops (not the host), and nopreempt keeping the backup as master")
        failover_checks.stopped_keepalived_fails_over_and_nopreempt_keeps_backup(lab, self.LAB, pair, tmp_path)

    def test_failover_directors_rebooted_in_turn(self, pair, lab):
        self._dr_only()
        not_in_ci("both directors rebooted one after the other, the VIP held throughout")
        failover_checks.directors_rebooted_in_turn(lab, self.LAB, pair)

    def test_lab_down_leaves_nothing_behind(self, lab):
        runtimes = lab.runtimes()
        stopped = [rt.name for rt in runtimes if not rt.pid()]
        assert not stopped, f"lab down must be shown on a lab that is up; not running: {stopped}"
        control.down(Console(), self.LAB)
        assert not any(rt.pid() for rt in runtimes)
        assert not paths.lab_dir(self.LAB).exists()
        leftover = subprocess.run(["pgrep", "-f", str(paths.lab_dir(self.LAB))], stdout=subprocess.PIPE, text=True)
        assert leftover.stdout.strip() == "", f"processes left: {leftover.stdout}"
        control.down(Console(), self.LAB)    # safe to run twice

    # --- helpers ---------------------------------------------------------------------------------------
    def dip(self, lab) -> str:
        return address(lab, "director1", "lvs_dip")

    def rip(self, lab, host: str) -> str:
        return address(lab, host)

    def whoami_counts(self, lab, requests: int) -> dict[str, int]:
        return whoami_counts(self.LAB, lab.topology.vip, requests)
