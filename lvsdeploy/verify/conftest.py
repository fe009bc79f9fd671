"""Hosts for the verify suite come from the inventory in $LVSDEPLOY_INVENTORY (or --inventory).

Testinfra connects with the ssh backend through an ssh_config written from the inventory, so host keys are
checked against the inventory's known_hosts file exactly as `lvsdeploy apply` does.
"""

import os
import shutil
import subprocess
import tempfile

import pytest
import testinfra

from lvsdeploy.executor import ssh_config_text
from lvsdeploy.inventory import load_cluster

from . import spec


def _default_inventory() -> str | None:
    """$LVSDEPLOY_INVENTORY, else the inventory of the lab named by $LVSDEPLOY_LAB (molecule sets that; with
    $LVSDEPLOY_MODE or $LVSDEPLOY_HEALTH_CHECKER, that lab's inventory for the mode or the checker)."""
    if os.environ.get("LVSDEPLOY_INVENTORY"):
        return os.environ["LVSDEPLOY_INVENTORY"]
    if os.environ.get("LVSDEPLOY_LAB"):
        from lvsdeploy.lab.inventory import checker_inventory_path, mode_inventory_path
        from lvsdeploy.lab.paths import lab_dir
        here = lab_dir(os.environ["LVSDEPLOY_LAB"])
        mode = os.environ.get("LVSDEPLOY_MODE") or "topology"   # both written by converge
        if mode != "topology":
            return str(mode_inventory_path(here, mode))
        checker = os.environ.get("LVSDEPLOY_HEALTH_CHECKER") or "none"
        return str(checker_inventory_path(here, checker))
    return None


def pytest_addoption(parser):
    parser.addoption("--inventory", default=_default_inventory(),
                     help="lvsdeploy inventory (default: $LVSDEPLOY_INVENTORY, or the lab $LVSDEPLOY_LAB)")


def _cluster(config):
    path = config.getoption("--inventory")
    if not path:
        raise pytest.UsageError("set LVSDEPLOY_INVENTORY or pass --inventory")
    if not hasattr(config, "_lvs_cluster"):
        config._lvs_cluster = load_cluster(path)
    return config._lvs_cluster


def pytest_generate_tests(metafunc):
    cluster = _cluster(metafunc.config)
    by_fixture = {
        "director": cluster.directors(),
        "realserver": cluster.realservers(),
        "service": cluster.services,
    }
    for name, items in by_fixture.items():
        if name in metafunc.fixturenames:
            ids = [getattr(i, "name") for i in items]
            metafunc.parametrize(name, items, ids=ids)


@pytest.fixture(scope="session")
def cluster(pytestconfig):
    return _cluster(pytestconfig)


@pytest.fixture(scope="session")
def remote(cluster, tmp_path_factory):
    """remote(name) -> a testinfra host for that inventory host.

    Every command to a host goes through one shared SSH connection (OpenSSH ControlMaster): the first
    command sets it up, later ones skip the key exchange and login, which cost about a second each on a slow
    host. The connections end with the session."""
    config = tmp_path_factory.mktemp("ssh") / "ssh_config"
    # reached exactly as lvsdeploy reaches them: ssh_config aliases, agent, jump hosts, checked host keys
    config.write_text(ssh_config_text(list(cluster.hosts.values())))
    # one socket per inventory host, numbered: OpenSSH's %C hashes address, port and user only, so two hosts
    # with one address behind different jump hosts would share a connection. In /tmp: a socket's path must
    # fit in 108 bytes.
    sockets = tempfile.mkdtemp(prefix="lvsverify-", dir="/tmp")
    paths = {name: f"{sockets}/{i}" for i, name in enumerate(sorted(cluster.hosts))}
    cache = {}

    def get(name: str):
        if name not in cache:
            # sudo unless the login is root (the user may come from ssh_config, as for lvsdeploy itself)
            become = cluster.hosts[name].connection.become
            cache[name] = testinfra.get_host(f"ssh://{name}", ssh_config=str(config), sudo=become,
                                             controlpath=paths[name], controlpersist=300)
        return cache[name]

    yield get
    for name in cache:
        subprocess.run(["ssh", "-F", str(config), "-o", f"ControlPath={paths[name]}", "-O", "exit", name],
                       capture_output=True, timeout=30)
    shutil.rmtree(sockets, ignore_errors=True)


@pytest.fixture(scope="session")
def expected_ipvs(cluster) -> set[str]:
    """The IPVS table the inventory asks for, as spec rows (checks.ipvs_rows reads a host's the same way)."""
    return spec.ipvs_rows(cluster)


def pytest_terminal_summary(terminalreporter):
    """Real servers a health checker has taken out, and which director is master: the cluster works as deployed,
    they are worth knowing."""
    from .checks import DOWN_BY_HEALTH_CHECK, DRAINED, FAILOVER_STATE
    for title, lines in (("down by health check", DOWN_BY_HEALTH_CHECK), ("drained", DRAINED),
                         ("failover", FAILOVER_STATE)):
        if lines:
            terminalreporter.section(title)
            for line in lines:
                terminalreporter.write_line(line)


# ---- `lvsdeploy verify --format json`: the summary as one document (schema lvsdeploy.verify/1) ----------------

_RESULTS: list[dict] = []


def _message(report) -> str | None:
    if report.passed:
        return None
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    return crash.message if crash is not None else str(report.longrepr)[-1000:]


def pytest_runtest_logreport(report):
    """One outcome per test: its call's, or its setup's when that failed or skipped (an error, a skip)."""
    if not os.environ.get("LVSDEPLOY_VERIFY_JSON"):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "error" if report.when == "setup" and report.failed else report.outcome
        _RESULTS.append({"test": report.nodeid, "outcome": outcome, "message": _message(report)})


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("LVSDEPLOY_VERIFY_JSON")
    if not path:
        return
    import json

    from .checks import DOWN_BY_HEALTH_CHECK, DRAINED, FAILOVER_STATE
    counts = {k: sum(r["outcome"] == k for r in _RESULTS) for k in ("passed", "failed", "skipped", "error")}
    document = {"schema": "lvsdeploy.verify/1", "inventory": os.environ.get("LVSDEPLOY_INVENTORY"),
                "exit_status": int(exitstatus), "summary": counts, "tests": _RESULTS,
                "notes": {"down_by_health_check": DOWN_BY_HEALTH_CHECK, "drained": DRAINED,
                          "failover": FAILOVER_STATE}}
    with open(path, "w", encoding="utf-8") as out:
        json.dump(document, out)
