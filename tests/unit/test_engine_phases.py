"""engine.py: phases (storage -> real servers -> directors, --limit, one run per host), and plan/apply over
fake sessions: a host waits only for the hosts it depends on, a failed host stops the hosts that depend on it,
a host that does not converge fails."""

import threading
from ipaddress import IPv4Interface
from pathlib import Path
from textwrap import dedent

import pytest

from lvsdeploy import engine
from lvsdeploy.executor import RemoteError, RemoteResult
from lvsdeploy.checkers import KEEPALIVED_CONF
from lvsdeploy.facts import FileFact, HostFacts, Interface
from lvsdeploy.inventory import load_cluster
from lvsdeploy.modules.base import Change, FactsRequest
from lvsdeploy.plan import APPLY_MARK, HostPlan, PlannedChange

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dr():
    return load_cluster(REPO / "inventories" / "examples" / "dr.yml")


@pytest.fixture
def shared(tmp_path):
    """both1 is a real server and a storage node; client1 is in no managed phase."""
    path = tmp_path / "inv.yml"
    path.write_text(dedent("""\
        all:
          vars:
            lvs_virtual_services:
              - {name: web, vip: 10.20.0.10, port: 80, mode: dr, realservers: [{host: rs1}, {host: both1}]}
          children:
            directors:
              hosts:
                director1: {ansible_host: 172.16.0.2, lvs_dip: 10.20.0.2/24}
            realservers:
              hosts:
                rs1: {ansible_host: 172.16.0.11, lvs_rip: 10.20.0.11/24}
                both1: {ansible_host: 172.16.0.13, lvs_rip: 10.20.0.13/24}
            storage:
              hosts:
                both1: {lvs_storage_ip: 10.20.0.23/24}
                storage2: {ansible_host: 172.16.0.21, lvs_storage_ip: 10.20.0.21/24}
            clients:
              hosts:
                client1: {ansible_host: 172.16.0.100, lvs_client_ip: 10.20.0.100/24}
        """))
    return load_cluster(path)


def names(phases) -> list[list[str]]:
    return [[h.name for h in phase] for phase in phases]


# ---- phases ------------------------------------------------------------------------------------------

def test_phases_are_storage_then_realservers_then_directors(dr):
    assert engine.PHASES == ("storage", "realservers", "directors")
    assert names(engine.phases(dr)) == [["storage1"], ["rs1", "rs2"], ["director1"]]


def test_clients_are_in_no_phase(dr):
    assert "client1" not in {h for phase in names(engine.phases(dr)) for h in phase}


@pytest.mark.parametrize("limit,expected", [
    ({"rs2"}, [[], ["rs2"], []]),
    ({"rs1", "director1"}, [[], ["rs1"], ["director1"]]),
    ({"realservers"}, [[], ["rs1", "rs2"], []]),
    ({"directors", "storage"}, [["storage1"], [], ["director1"]]),
    ({"storage1", "realservers"}, [["storage1"], ["rs1", "rs2"], []]),
    ({"all"}, [["storage1"], ["rs1", "rs2"], ["director1"]]),
    ({"client1"}, [[], [], []]),
    (None, [["storage1"], ["rs1", "rs2"], ["director1"]]),
    (set(), [["storage1"], ["rs1", "rs2"], ["director1"]]),
])
def test_limit_by_host_and_by_group(dr, limit, expected):
    assert names(engine.phases(dr, limit)) == expected


def test_host_in_two_groups_runs_once_in_its_first_phase(shared):
    assert names(engine.phases(shared)) == [["both1", "storage2"], ["rs1"], ["director1"]]
    # Limited to its later group, it still runs once, in its first phase.
    assert names(engine.phases(shared, {"realservers"})) == [["both1"], ["rs1"], []]
    assert names(engine.phases(shared, {"both1"})) == [["both1"], [], []]


# ---- plan_all / apply_all over fake sessions ---------------------------------------------------------

class FakeSession:
    def __init__(self, host, log, results):
        self.host, self.log, self.results = host, log, results
        self.round_trips = 0
        self.closed = False

    def run_apply(self, script: str, holder: str, time_limit: float, lock_wait: float) -> RemoteResult:
        self.round_trips += 1
        self.log.append((self.host.name, script))
        return self.results.get(self.host.name, RemoteResult(0, f"{APPLY_MARK} done\n", ""))

    def close(self):
        self.closed = True


def change(resource: str, *commands: str) -> PlannedChange:
    return PlannedChange(f"demo: {resource}", Change(resource, ("+ " + resource,), commands or ("true",)))


@pytest.fixture
def fake(monkeypatch):
    """Fake SSH and planning. `plans[host]` is the list of plans plan_host returns, one per call."""
    state = {"log": [], "results": {}, "plans": {}, "unreachable": set(), "sessions": {}}
    lock = threading.Lock()

    def connect(host, connect_timeout=None):
        if host.name in state["unreachable"]:
            raise RemoteError(f"{host.name}: cannot reach {host.connection.host}:22: timed out")
        session = FakeSession(host, state["log"], state["results"])
        state["sessions"][host.name] = session
        return session

    def read_facts(session, request):
        session.round_trips += 1
        return HostFacts(hostname=session.host.name)

    def plan_host(tasks, facts):
        with lock:
            queue = state["plans"].get(tasks.host) or [HostPlan(tasks.host)]
            return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(engine, "connect", connect)
    monkeypatch.setattr(engine, "read_facts", read_facts)
    monkeypatch.setattr(engine, "facts_request", lambda tasks: FactsRequest())
    monkeypatch.setattr(engine, "plan_host", plan_host)
    return state


def statuses(runs) -> dict[str, str]:
    return {r.host.name: r.status for phase in runs for r in phase}


def test_apply_runs_phase_by_phase_and_reports_changed_and_ok(dr, fake):
    fake["plans"] = {name: [HostPlan(name, [change(f"file /etc/{name}")]), HostPlan(name)]
                     for name in ("storage1", "rs1", "director1")}
    runs = engine.plan_all(dr, forks=1)
    assert statuses(runs) == {"storage1": "pending", "rs1": "pending", "rs2": "pending", "director1": "pending"}
    engine.apply_all(dr, runs, forks=1)
    assert statuses(runs) == {"storage1": "changed", "rs1": "changed", "rs2": "ok", "director1": "changed"}
    # One apply script per changed host, storage before real servers before directors; rs2 had nothing to do.
    assert [host for host, _ in fake["log"]] == ["storage1", "rs1", "director1"]
    assert all(f"echo {APPLY_MARK} done" in script for _, script in fake["log"])
    # Round trips: facts, apply, re-read for a changed host; facts only for an unchanged one.
    assert {r.host.name: r.round_trips for phase in runs for r in phase} == {
        "storage1": 3, "rs1": 3, "rs2": 1, "director1": 3}
    engine.close_all(runs)
    assert all(s.closed for s in fake["sessions"].values())


def test_a_failed_realserver_stops_the_directors(dr, fake):
    fake["plans"] = {"rs1": [HostPlan("rs1", [change("sysctl a.b"), change("address 10.20.0.10/32 dev lo")])],
                     "director1": [HostPlan("director1", [change("ipvs TCP 10.20.0.10:80")])]}
    fake["results"] = {"rs1": RemoteResult(2, f"{APPLY_MARK} 0\n{APPLY_MARK} 1\n",
                                           "RTNETLINK answers: Operation not permitted\n")}
    runs = engine.plan_all(dr, forks=3)
    engine.apply_all(dr, runs, forks=3)
    assert statuses(runs) == {"storage1": "ok", "rs1": "failed", "rs2": "ok", "director1": "skipped"}
    rs1 = runs[1][0]
    assert rs1.error.startswith("rs1: failed at change address 10.20.0.10/32 dev lo (demo: address 10.20.0.10/32 "
                                "dev lo):")
    assert "RTNETLINK answers: Operation not permitted" in rs1.error
    assert runs[2][0].error == "not applied: rs1, which it depends on, did not apply"
    assert "director1" not in [host for host, _ in fake["log"]]


def test_a_host_that_does_not_converge_fails(dr, fake):
    left = HostPlan("rs1", [change("sysctl net.ipv4.conf.all.arp_ignore")])
    fake["plans"] = {"rs1": [left, left]}
    runs = engine.plan_all(dr, limit={"rs1"})
    engine.apply_all(dr, runs)
    (rs1,) = runs[1]
    assert rs1.status == "failed"
    assert rs1.error == "rs1: did not converge; still to change: sysctl net.ipv4.conf.all.arp_ignore"


def test_unreachable_and_unplannable_hosts_fail_at_plan_time(dr, fake):
    fake["unreachable"] = {"rs2"}
    fake["plans"] = {"director1": [HostPlan("director1", error="director: virtual IPs: ip_address: cannot place")]}
    runs = engine.plan_all(dr)
    assert statuses(runs) == {"storage1": "pending", "rs1": "pending", "rs2": "failed", "director1": "failed"}
    by_name = {r.host.name: r for phase in runs for r in phase}
    assert by_name["rs2"].error == "rs2: cannot reach 172.16.0.12:22: timed out"
    assert by_name["director1"].error == "director: virtual IPs: ip_address: cannot place"


def test_an_unexpected_error_while_planning_is_a_failed_host_not_a_traceback(dr, fake, monkeypatch):
    def boom(tasks):
        raise KeyError("lvs_dip")
    monkeypatch.setattr(engine, "facts_request", boom)
    runs = engine.plan_all(dr, limit={"director1"})
    (director,) = runs[2]
    assert (director.status, director.error) == ("failed", "director1: KeyError: 'lvs_dip'")


def test_limit_reaches_plan_all(shared, fake):
    runs = engine.plan_all(shared, limit={"realservers"})
    assert names([[r.host for r in phase] for phase in runs]) == [["both1"], ["rs1"], []]
    assert sorted(fake["sessions"]) == ["both1", "rs1"]


# ---- stopping: the first Ctrl-C starts no new host or phase; running hosts finish ---------------------------

def test_a_stop_request_skips_the_hosts_and_phases_not_started(dr, fake):
    fake["plans"] = {name: [HostPlan(name, [change(f"file /etc/{name}")]), HostPlan(name)]
                     for name in ("storage1", "rs1", "rs2", "director1")}
    runs = engine.plan_all(dr, forks=1)
    limits = engine.ApplyLimits()
    real_run_apply = FakeSession.run_apply

    def stop_during_rs1(session, script, holder, time_limit, lock_wait):
        if session.host.name == "rs1":
            limits.stop.set()   # as the first Ctrl-C does, while rs1's script runs
        return real_run_apply(session, script, holder, time_limit, lock_wait)

    FakeSession.run_apply = stop_during_rs1
    try:
        engine.apply_all(dr, runs, forks=1, limits=limits)
    finally:
        FakeSession.run_apply = real_run_apply
    # storage1 and rs1 finished; rs2 (same phase, not started yet) and director1 (next phase) never started
    assert statuses(runs) == {"storage1": "changed", "rs1": "changed", "rs2": "skipped", "director1": "skipped"}
    assert [host for host, _ in fake["log"]] == ["storage1", "rs1"]
    assert {r.error for phase in runs for r in phase if r.status == "skipped"} == {
        "interrupted before this host started"}


def test_the_first_ctrl_c_prints_the_recap_and_exits_130(fake, capsys, monkeypatch):
    import os
    import signal

    from lvsdeploy import cli
    inventory = REPO / "inventories" / "examples" / "dr.yml"
    fake["plans"] = {name: [HostPlan(name, [change(f"file /etc/{name}")]), HostPlan(name)]
                     for name in ("storage1", "rs1", "rs2", "director1")}
    real_run_apply = FakeSession.run_apply

    def interrupted(session, *args):
        if session.host.name == "storage1":
            os.kill(os.getpid(), signal.SIGINT)   # a real SIGINT, handled by cli's handler
        return real_run_apply(session, *args)

    monkeypatch.setattr(FakeSession, "run_apply", interrupted)
    before = signal.getsignal(signal.SIGINT)   # SIG_IGN when started in the background without job control
    assert cli.main(["apply", "--yes", "--forks", "1", str(inventory)]) == 130
    out, err = capsys.readouterr()
    assert "Recap" in out and "Stopping: hosts already applying finish" in err
    assert [host for host, _ in fake["log"]] == ["storage1"]
    assert signal.getsignal(signal.SIGINT) is before, "the handler is removed afterwards"


def test_a_changed_host_costs_two_round_trips_when_its_script_reads_facts_back(dr, fake):
    """facts, then one apply script that ends by reading the facts again for the convergence check."""
    from lvsdeploy.plan import READBACK_MARK
    facts_text = (REPO / "tests" / "unit" / "fixtures" / "facts" / "director.facts").read_text()
    fake["plans"] = {"director1": [HostPlan("director1", [change("file /etc/x")]), HostPlan("director1")]}
    fake["results"] = {"director1": RemoteResult(0, f"{APPLY_MARK} 0\n{APPLY_MARK} done\n{READBACK_MARK}\n"
                                                    f"{facts_text}", "")}
    runs = engine.plan_all(dr, limit={"director1"})
    engine.apply_all(dr, runs)
    (director,) = runs[2]
    assert (director.status, director.round_trips) == ("changed", 2)
    script = fake["log"][0][1]
    assert script.index(f"echo {APPLY_MARK} done") < script.index(f"echo {READBACK_MARK}") < \
        script.index("@@lvsfacts end"), "the facts are read after every change, by the same script"


def test_the_readback_is_not_under_set_e(tmp_path):
    """A facts reader that finds nothing (a command exiting non-zero) must not turn a done apply into a failure."""
    import subprocess
    from lvsdeploy.plan import READBACK_MARK
    script = HostPlan("h", [change("file /etc/x", "true")]).script(readback="echo first\nfalse\necho second\n")
    ran = subprocess.run(["sh", "-s"], input=script.replace("export LC_ALL=C PATH=", "export LC_ALL=C X="),
                         capture_output=True, text=True)
    assert ran.returncode == 0
    assert ran.stdout.endswith(f"{APPLY_MARK} done\n{READBACK_MARK}\nfirst\nsecond\n")


# ---- dependencies: a host waits only for the hosts it depends on ---------------------------------------------

@pytest.fixture
def one_client(tmp_path):
    """dr.yml with the share mounted by rs2 only: rs1 depends on no storage node."""
    text = (REPO / "inventories" / "examples" / "dr.yml").read_text()
    assert "clients: [rs1, rs2]" in text
    path = tmp_path / "inv.yml"
    path.write_text(text.replace("clients: [rs1, rs2]", "clients: [rs2]"))
    return load_cluster(path)


def test_dependencies_are_share_servers_and_a_directors_realservers(one_client, dr):
    assert engine.depends_on(dr, dr.hosts["rs1"]) == {"storage1"}
    assert engine.depends_on(one_client, one_client.hosts["rs1"]) == set()
    assert engine.depends_on(one_client, one_client.hosts["rs2"]) == {"storage1"}
    assert engine.depends_on(dr, dr.hosts["director1"]) == {"rs1", "rs2"}
    assert engine.depends_on(dr, dr.hosts["storage1"]) == set()


def test_a_host_starts_as_soon_as_its_own_dependencies_are_done(one_client, fake):
    # rs1 mounts nothing: it starts while storage1 is still applying; rs2 waits for storage1, and director1
    # for both real servers.
    fake["plans"] = {name: [HostPlan(name, [change(f"file /etc/{name}")]), HostPlan(name)]
                     for name in ("storage1", "rs1", "rs2", "director1")}
    rs1_started = threading.Event()
    events: list[str] = []
    real_run_apply = FakeSession.run_apply

    def record(session, *args):
        name = session.host.name
        events.append(f"{name} start")
        if name == "rs1":
            rs1_started.set()
        if name == "storage1":
            rs1_started.wait(5)   # storage1 is slow: it finishes only once rs1 has started (or after 5 s)
        result = real_run_apply(session, *args)
        events.append(f"{name} end")
        return result

    FakeSession.run_apply = record
    try:
        runs = engine.plan_all(one_client, forks=4)
        engine.apply_all(one_client, runs, forks=4)
    finally:
        FakeSession.run_apply = real_run_apply
    assert statuses(runs) == {"storage1": "changed", "rs1": "changed", "rs2": "changed", "director1": "changed"}
    assert events.index("rs1 start") < events.index("storage1 end") < events.index("rs2 start")
    assert max(events.index("rs1 end"), events.index("rs2 end")) < events.index("director1 start")


def test_a_failed_storage_node_skips_its_clients_and_the_directors_only(one_client, fake):
    fake["plans"] = {name: [HostPlan(name, [change(f"file /etc/{name}")]), HostPlan(name)]
                     for name in ("storage1", "rs1", "rs2", "director1")}
    fake["results"] = {"storage1": RemoteResult(1, f"{APPLY_MARK} 0\n", "exportfs: bad export\n")}
    runs = engine.plan_all(one_client, forks=2)
    engine.apply_all(one_client, runs, forks=2)
    by_name = {r.host.name: r for phase in runs for r in phase}
    assert statuses(runs) == {"storage1": "failed", "rs1": "changed", "rs2": "skipped", "director1": "skipped"}
    assert by_name["rs2"].error == "not applied: storage1, which it depends on, did not apply"
    assert by_name["director1"].error == "not applied: rs2, which it depends on, did not apply"


# ---- director failover: directors one at a time, backups first, the director holding the VIP last ------------

@pytest.fixture
def pair(tmp_path):
    path = tmp_path / "pair.yml"
    path.write_text(dedent("""\
        all:
          vars:
            lvs_health_checker: keepalived
            lvs_virtual_services:
              - {name: web, vip: 10.20.0.10, port: 80, mode: dr, realservers: [{host: rs1}]}
          children:
            directors:
              hosts:
                director1: {ansible_host: 172.16.0.2, lvs_dip: 10.20.0.2/24}
                director2: {ansible_host: 172.16.0.3, lvs_dip: 10.20.0.3/24}
            realservers:
              hosts:
                rs1: {ansible_host: 172.16.0.11, lvs_rip: 10.20.0.11/24}
        """))
    return load_cluster(path)


def test_rolling_chains_backup_then_master(pair, dr):
    runs = {name: engine.HostRun(pair.hosts[name]) for name in ("rs1", "director1", "director2")}
    # nobody holds the VIP: the director that will be master (director1, priority 150) goes last
    assert engine.rolling(pair, runs) == {"director1": "director2"}
    runs["director2"].holds_floating = runs["director2"].runs_vrrp = True   # director2 is VRRP master: last
    assert engine.rolling(pair, runs) == {"director2": "director1"}
    runs["director2"].runs_vrrp = False   # a single director becoming a pair: it goes first and stays master
    assert engine.rolling(pair, runs) == {"director1": "director2"}
    assert engine.rolling(pair, {"director1": runs["director1"]}) == {}   # --limit director1: no chain
    assert engine.rolling(dr, {"director1": engine.HostRun(dr.hosts["director1"])}) == {}   # one director


def holding_the_vip(monkeypatch, holder: str) -> None:
    """The fake facts show 10.20.0.10 on `holder`, added by keepalived as the VRRP master."""
    plain = engine.read_facts

    def read_facts(session, request):
        facts = plain(session, request)
        if session.host.name == holder:
            facts.interfaces["eth1"] = Interface("eth1", None, True, None, [IPv4Interface("10.20.0.10/32")])
            facts.files[KEEPALIVED_CONF] = FileFact(True, b"vrrp_instance VI_LVS {\n}\n", kind="file")
        return facts
    monkeypatch.setattr(engine, "read_facts", read_facts)


def test_directors_apply_one_at_a_time_the_vips_holder_last(pair, fake, monkeypatch):
    holding_the_vip(monkeypatch, "director2")
    fake["plans"] = {name: [HostPlan(name, [change(f"file /etc/{name}")]), HostPlan(name)]
                     for name in ("rs1", "director1", "director2")}
    events: list[str] = []
    real_run_apply = FakeSession.run_apply

    def record(session, *args):
        events.append(f"{session.host.name} start")
        result = real_run_apply(session, *args)
        events.append(f"{session.host.name} end")
        return result

    monkeypatch.setattr(FakeSession, "run_apply", record)
    runs = engine.plan_all(pair, forks=3)
    assert {r.host.name: r.holds_floating for r in runs[2]} == {"director1": False, "director2": True}
    engine.apply_all(pair, runs, forks=3)
    assert statuses(runs) == {"rs1": "changed", "director1": "changed", "director2": "changed"}
    assert events == ["rs1 start", "rs1 end", "director1 start", "director1 end", "director2 start", "director2 end"]
    director1, director2 = runs[2]
    assert director1.applied[0] <= director1.applied[1] <= director2.applied[0] <= director2.applied[1]


def test_a_failed_director_stops_the_next_one(pair, fake):
    # nobody holds the VIP: director2 (the backup to be) goes first, and fails
    fake["plans"] = {name: [HostPlan(name, [change(f"file /etc/{name}")]), HostPlan(name)]
                     for name in ("director1", "director2")}
    fake["results"] = {"director2": RemoteResult(1, f"{APPLY_MARK} 0\n", "keepalived: bad config\n")}
    runs = engine.plan_all(pair, forks=3)
    engine.apply_all(pair, runs, forks=3)
    assert statuses(runs) == {"rs1": "ok", "director1": "skipped", "director2": "failed"}
    assert runs[2][0].error == "not applied: director2, which it depends on, did not apply"
    assert [host for host, _ in fake["log"]] == ["director2"]
    assert runs[2][0].applied is None   # never started: the recap shows "-"


def test_nat_realservers_of_a_pair_wait_for_the_directors(tmp_path):
    """Their new default gateway is an address the master holds once keepalived runs: directors first."""
    cluster = cluster_from(tmp_path, """\
        all:
          vars:
            lvs_health_checker: keepalived
            lvs_failover: {gateway: 10.10.0.254/24}
            lvs_virtual_services:
              - {name: web, vip: 192.168.100.10, port: 80, mode: nat, realservers: [{host: rs1}]}
          children:
            directors:
              hosts:
                director1: {lvs_dip: 10.10.0.1/24}
                director2: {lvs_dip: 10.10.0.2/24}
            realservers:
              hosts:
                rs1: {lvs_rip: 10.10.0.11/24}
        """)
    assert engine.gateway_first(cluster) == {"rs1"}
    assert "rs1" not in engine.depends_on(cluster, cluster.hosts["director1"])


def test_a_dependency_cycle_is_found_before_anything_is_applied(tmp_path):
    """A director of a pair that also serves the share its real server mounts: director1 -> director2 (one at a
    time) -> rs1 (directors wait for real servers) -> director1 (rs1 mounts from it). The CLI refuses at plan."""
    cluster = cluster_from(tmp_path, """\
        all:
          vars:
            lvs_health_checker: keepalived
            lvs_virtual_services:
              - {name: web, vip: 10.20.0.10, port: 80, mode: dr, realservers: [{host: rs1}]}
            lvs_shared_storage:
              - {name: c, server: director1, export: /srv/lvs/c, mount: /srv/web/c}
          children:
            directors:
              hosts:
                director1: {lvs_dip: 10.20.0.2/24}
                director2: {lvs_dip: 10.20.0.3/24}
            storage:
              hosts:
                director1: {lvs_storage_ip: 10.20.0.2/24}
            realservers:
              hosts:
                rs1: {lvs_rip: 10.20.0.11/24}
        """)
    cycle = engine.dependency_cycle(cluster, pending_runs(cluster))
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"director1", "director2", "rs1"}


def test_no_dependency_cycle_in_the_examples(dr):
    assert engine.dependency_cycle(dr, pending_runs(dr)) is None


def cluster_from(tmp_path, text: str):
    path = tmp_path / "inventory.yml"
    path.write_text(dedent(text))
    return load_cluster(path)


def pending_runs(cluster) -> list[list[engine.HostRun]]:
    """Runs per phase as plan_all makes them, without connecting anywhere."""
    return [[engine.HostRun(h) for h in phase] for phase in engine.phases(cluster)]
