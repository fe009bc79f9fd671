"""The director role with a health checker: its tasks (package, systemd drop-in, configuration written only
after the daemon's own test, the IPVS table handed to the daemon, the daemon running), what keepalived.conf
and ldirectord.cf say for each kind of service, and the plan of a director that runs a checker.

The apply script is not run here for the checkers' daemons: test_plan.FakeHost knows neither keepalived nor
ldirectord, so the plans are checked as Change lists, and convergence with a FakeHost that stands in for them.
"""

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lvsdeploy import checkers
from lvsdeploy.facts import FileFact, UnitFact
from lvsdeploy.inventory import load_cluster
from lvsdeploy.plan import facts_request, host_tasks, plan_host

from test_plan import REPO, FakeHost, fixture, fresh_facts
from test_validate import BASE

KEEPALIVED_CONF, LDIRECTORD_CF = "/etc/keepalived/keepalived.conf", "/etc/ha.d/ldirectord.cf"
DROP_IN = "/etc/systemd/system/keepalived.service.d/lvsdeploy.conf"
RECORD = "/etc/lvsdeploy/ipvs.managed"

# One service of each kind a checker config must express (10.20.0.0/24, BASE's director and real servers).
SERVICES = [
    {"name": "web", "vip": "10.20.0.10", "port": 80, "mode": "dr", "scheduler": "wrr", "persistence": 300,
     "persistence_netmask": "255.255.255.0", "realservers": [{"host": "rs1", "weight": 2}, {"host": "rs2"}],
     "health_check": {"type": "http", "path": "/whoami", "expect": "ok.", "virtualhost": "www.example.com",
                      "on_failure": "quiescent", "sorry_server": {"address": "127.0.0.1", "port": 80},
                      "retries": 2, "interval": 4, "timeout": 2}},
    {"name": "mark", "vip": "10.20.0.30", "fwmark": 7, "mode": "dr", "realservers": [{"host": "rs1"}, {"host": "rs2"}],
     "health_check": {"type": "tcp", "port": 443}},
    {"name": "script", "vip": "10.20.0.10", "port": 8080, "mode": "dr", "realservers": [{"host": "rs1"}],
     "health_check": {"type": "misc", "command": "/usr/local/sbin/check-it"}},
    {"name": "dns", "vip": "10.20.0.10", "port": 53, "protocol": "udp", "mode": "dr",
     "realservers": [{"host": "rs1"}, {"host": "rs2"}]},
    {"name": "tls", "vip": "10.20.0.10", "port": 443, "mode": "dr", "realservers": [{"host": "rs1"}, {"host": "rs2"}],
     "health_check": {"type": "https"}},
]
# What only keepalived can say, on top of SERVICES (ldirectord refuses it: test_health_checks.py)
KEEPALIVED_ONLY = {"tls": {"status": 204, "quorum": 2, "hysteresis": 1, "delay_before_retry": 1},
                   "script": {"command": "/usr/local/sbin/check-it --fast"}}


def inventory(checker: str, services: list[dict] | None = None) -> dict:
    data = copy.deepcopy(BASE)
    data["all"]["vars"]["lvs_health_checker"] = checker
    data["all"]["vars"]["lvs_virtual_services"] = copy.deepcopy(SERVICES if services is None else services)
    if checker == "keepalived" and services is None:
        for svc in data["all"]["vars"]["lvs_virtual_services"]:
            svc.get("health_check", {}).update(KEEPALIVED_ONLY.get(svc["name"], {}))
    return data


def director_tasks(tmp_path: Path, data: dict):
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cluster = load_cluster(path)
    tasks = host_tasks(cluster, cluster.hosts["director1"])
    assert tasks.error is None, tasks.error
    return tasks


def files_written(tasks) -> dict[str, str]:
    return {t.args["path"]: t.args["content"] for t in tasks.tasks if t.module == "file" and "content" in t.args}


def rendered(tmp_path: Path, checker: str, services: list[dict] | None = None) -> str:
    """The configuration file the director role writes for `checker`."""
    return files_written(director_tasks(tmp_path, inventory(checker, services)))[
        {"keepalived": KEEPALIVED_CONF, "ldirectord": LDIRECTORD_CF}[checker]]


def block(text: str, header: str) -> list[str]:
    """The stripped lines of the keepalived block opened by the line `header` (without its '{'), up to its '}'."""
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index(f"{header} {{")
    depth = 0
    for end in range(start, len(lines)):
        depth += lines[end].count("{") - lines[end].count("}")
        if depth == 0:
            return lines[start:end + 1]
    raise AssertionError(f"{header}: not closed")


def section(text: str, virtual: str) -> list[str]:
    """The lines of one ldirectord virtual section: `virtual=...`, then its tab-indented lines."""
    lines = text.splitlines()
    start = lines.index(f"virtual={virtual}")
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        body.append(line)
    return body


def balanced(text: str) -> bool:
    depth = 0
    for line in text.splitlines():
        depth += line.count("{") - line.count("}")
        if depth < 0:
            return False
    return depth == 0


# ---- the director role's tasks ----------------------------------------------------------------------------------

def checker_tasks(tasks) -> list:
    return [t for t in tasks.tasks if "keepalived" in t.label or "ldirectord" in t.label]


def test_without_a_checker_the_role_has_no_checker_task(tmp_path):
    tasks = director_tasks(tmp_path, inventory("none"))
    assert checker_tasks(tasks) == []
    (table,) = [t for t in tasks.tasks if t.module == "ipvs"]
    assert table.args["owner"] == "lvsdeploy"


def test_the_role_for_keepalived(tmp_path):
    tasks = director_tasks(tmp_path, inventory("keepalived"))
    labels = [t.label for t in tasks.tasks]
    assert [(t.label, t.module) for t in checker_tasks(tasks)] == [
        ("director: keepalived", "package"),
        ("director: keepalived leaves the IPVS table in place when it stops", "file"),
        ("director: keepalived health checks", "file"),
        ("director: keepalived running, and at boot", "service"),
    ]
    package, drop_in, conf, running = checker_tasks(tasks)
    assert package.args == {"name": "keepalived"}
    # --dont-release-ipvs: a stopped keepalived leaves the table; ExecStart is reset before it is set again
    assert drop_in.args["path"] == DROP_IN
    assert "[Service]\nExecStart=\nExecStart=/usr/sbin/keepalived --dont-fork --dont-release-ipvs $DAEMON_ARGS\n" \
        in drop_in.args["content"]
    assert conf.args["path"] == KEEPALIVED_CONF
    assert conf.args["validate"] == "keepalived -t -f %s" == checkers.CONFIG_TEST["keepalived"]
    assert conf.notify == ("reload keepalived",)
    assert running.args == {"name": "keepalived.service", "enabled": True, "state": "started"}
    # the daemon's file is tested and written first, then the table is handed over, then the daemon runs
    table = labels.index("director: IPVS virtual services and real servers")
    assert labels.index(conf.label) < table < labels.index(running.label)
    assert tasks.tasks[table].args["owner"] == "keepalived"
    # a reload, never a restart
    assert tasks.handlers["reload keepalived"] == "systemctl reload keepalived.service"


def test_the_role_for_ldirectord(tmp_path):
    tasks = director_tasks(tmp_path, inventory("ldirectord"))
    labels = [t.label for t in tasks.tasks]
    assert [(t.label, t.module) for t in checker_tasks(tasks)] == [
        ("director: ldirectord", "package"),
        ("director: ldirectord health checks", "file"),
        ("director: ldirectord running, and at boot", "service"),
    ]
    package, conf, running = checker_tasks(tasks)
    assert package.args == {"name": "ldirectord"}
    assert conf.args["path"] == LDIRECTORD_CF
    assert conf.args["validate"] == "ldirectord %s status >/dev/null || [ $? -eq 3 ]"
    assert conf.notify == ("reload ldirectord",)
    assert running.args == {"name": "ldirectord.service", "enabled": True, "state": "started"}
    table = labels.index("director: IPVS virtual services and real servers")
    assert labels.index(conf.label) < table < labels.index(running.label)
    assert tasks.tasks[table].args["owner"] == "ldirectord"
    assert tasks.handlers["reload ldirectord"] == "systemctl reload ldirectord.service"
    assert DROP_IN not in files_written(tasks)


# ---- keepalived.conf -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keepalived_conf(tmp_path_factory) -> str:
    return rendered(tmp_path_factory.mktemp("keepalived"), "keepalived")


def test_keepalived_conf_is_lvsdeploys_and_balanced(keepalived_conf):
    assert keepalived_conf.startswith("# Managed by lvsdeploy")
    assert balanced(keepalived_conf)
    assert keepalived_conf.count("virtual_server ") == len(SERVICES)
    # misc checks run as root: keepalived refuses scripts without these
    assert block(keepalived_conf, "global_defs") == [
        "global_defs {", "router_id director1", "# misc checks run the inventory's commands as root; keepalived "
        "refuses scripts without this", "enable_script_security", "script_user root", "}"]


def test_keepalived_http_check_quiescent_with_sorry_server_and_persistence(keepalived_conf):
    web = block(keepalived_conf, "virtual_server 10.20.0.10 80")
    for line in ("delay_loop 4", "lb_algo wrr", "lb_kind DR", "protocol TCP", "persistence_timeout 300",
                 "persistence_granularity 255.255.255.0", "sorry_server 127.0.0.1 80"):
        assert line in web, line
    rs1 = block("\n".join(web), "real_server 10.20.0.11 80")
    assert rs1 == [
        "real_server 10.20.0.11 80 {", "weight 2", "inhibit_on_failure", "HTTP_GET {", "connect_port 80",
        "connect_timeout 2",
        "retry 1",                  # retries 2: the first attempt and one retry
        "delay_before_retry 4",     # default: the interval
        "virtualhost www.example.com",
        "url {", "path /whoami", "status_code 200", 'regex "ok\\."', "}",   # expect matched as plain text
        "}", "}"]
    assert block("\n".join(web), "real_server 10.20.0.12 80")[1] == "weight 1"
    assert "quorum" not in " ".join(web) and "hysteresis" not in " ".join(web)


def test_keepalived_fwmark_service_with_a_check_port(keepalived_conf):
    mark = block(keepalived_conf, "virtual_server fwmark 7")
    assert not any(line.startswith("protocol") for line in mark)   # a fwmark service has no protocol of its own
    rs1 = block("\n".join(mark), "real_server 10.20.0.11 0")
    assert rs1 == ["real_server 10.20.0.11 0 {", "weight 1", "TCP_CHECK {", "connect_port 443", "connect_timeout 3",
                   "retry 1", "delay_before_retry 5", "}", "}"]


def test_keepalived_misc_check_gets_the_service_and_real_server_last(keepalived_conf):
    script = block(keepalived_conf, "virtual_server 10.20.0.10 8080")
    assert "MISC_CHECK {" in script
    assert 'misc_path "/usr/local/sbin/check-it --fast 10.20.0.10 8080 10.20.0.11 8080"' in script
    assert "misc_timeout 3" in script
    assert not any(line.startswith(("connect_port", "url")) for line in script)


def test_keepalived_udp_service_without_check_is_kept_but_not_tested(keepalived_conf):
    dns = block(keepalived_conf, "virtual_server 10.20.0.10 53")
    assert "protocol UDP" in dns
    assert block("\n".join(dns), "real_server 10.20.0.11 53") == ["real_server 10.20.0.11 53 {", "weight 1", "}"]
    assert not any("_CHECK" in line or "_GET" in line for line in dns)


def test_keepalived_https_check_with_keepalived_only_keys(keepalived_conf):
    tls = block(keepalived_conf, "virtual_server 10.20.0.10 443")
    assert "quorum 2" in tls and "hysteresis 1" in tls
    rs1 = block("\n".join(tls), "real_server 10.20.0.11 443")
    assert rs1 == ["real_server 10.20.0.11 443 {", "weight 1", "SSL_GET {", "connect_port 443", "connect_timeout 3",
                   "retry 1", "delay_before_retry 1", "url {", "path /", "status_code 204", "}", "}", "}"]
    assert "inhibit_on_failure" not in tls and "sorry_server" not in " ".join(tls)


@pytest.mark.parametrize("mode, kind, method", [("nat", "NAT", "masq"), ("dr", "DR", "gate"), ("tun", "TUN", "ipip"),
                                               ("fullnat", "NAT", "masq")])   # fullnat: masquerading, plus SNAT
def test_forwarding_method_in_both_configs(tmp_path, mode, kind, method):
    services = [{"name": "web", "vip": "10.20.0.10", "port": 80, "mode": mode, "realservers": [{"host": "rs1"}]}]
    assert f"lb_kind {kind}" in block(rendered(tmp_path, "keepalived", services), "virtual_server 10.20.0.10 80")
    assert f"\treal=10.20.0.11:80 {method} 1" in section(rendered(tmp_path, "ldirectord", services), "10.20.0.10:80")


@pytest.mark.parametrize("retries, retry", [(1, 0), (2, 1), (5, 4)])
def test_keepalived_retry_counts_after_the_first_failure(tmp_path, retries, retry):
    services = [{"name": "web", "vip": "10.20.0.10", "port": 80, "mode": "dr", "realservers": [{"host": "rs1"}],
                 "health_check": {"type": "tcp", "retries": retries}}]
    conf = rendered(tmp_path, "keepalived", services)
    assert f"retry {retry}" in block(conf, "real_server 10.20.0.11 80")
    assert f"\tfailurecount={retries}" in section(rendered(tmp_path, "ldirectord", services), "10.20.0.10:80")


def test_a_tcp_service_without_health_check_gets_a_tcp_connect(tmp_path):
    services = [{"name": "web", "vip": "10.20.0.10", "port": 80, "mode": "dr", "realservers": [{"host": "rs1"}]}]
    conf = rendered(tmp_path, "keepalived", services)
    assert "enable_script_security" not in conf   # no misc check: no scripts
    assert block(conf, "virtual_server 10.20.0.10 80") == [
        "virtual_server 10.20.0.10 80 {", "delay_loop 5", "lb_algo wlc", "lb_kind DR", "protocol TCP", "",
        "# rs1", "real_server 10.20.0.11 80 {", "weight 1", "TCP_CHECK {", "connect_port 80", "connect_timeout 3",
        "retry 1", "delay_before_retry 5", "}", "}", "}"]
    assert section(rendered(tmp_path, "ldirectord", services), "10.20.0.10:80") == [
        "\treal=10.20.0.11:80 gate 1", "\tprotocol=tcp", "\tscheduler=wlc", "\tchecktype=connect",
        "\tcheckinterval=5", "\tchecktimeout=3", "\tfailurecount=2", "\tquiescent=no"]


def test_no_services_still_makes_a_valid_keepalived_conf(tmp_path):
    conf = rendered(tmp_path, "keepalived", [])
    assert balanced(conf) and "virtual_server" not in conf and "global_defs {" in conf


@pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived is not installed here")
def test_keepalived_accepts_the_rendered_conf(keepalived_conf, tmp_path):
    # keepalived's own config test, as the director runs it before installing the file (CONFIG_TEST)
    def config_test(text: str) -> subprocess.CompletedProcess:
        (tmp_path / "keepalived.conf").write_text(text)
        command = checkers.CONFIG_TEST["keepalived"] % (tmp_path / "keepalived.conf")
        return subprocess.run(command.split(), capture_output=True, text=True, timeout=30)

    ran = config_test(keepalived_conf)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == ""
    # the test would see a broken file: a brace too many, a misspelt keyword
    assert config_test(keepalived_conf + "}\n").returncode != 0
    assert config_test(keepalived_conf.replace("delay_loop", "delay_lop")).returncode != 0


# ---- ldirectord.cf --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ldirectord_cf(tmp_path_factory) -> str:
    return rendered(tmp_path_factory.mktemp("ldirectord"), "ldirectord")


def test_ldirectord_globals(ldirectord_cf):
    lines = ldirectord_cf.splitlines()
    head = lines[:lines.index("virtual=10.20.0.10:80")]
    # cleanstop=no: a stopped ldirectord leaves the table; fork=yes: each service keeps its own checkinterval
    for line in ("cleanstop=no", "autoreload=no", "fork=yes", 'logfile="daemon"'):
        assert line in head, line
    # every line is a comment, blank, a global or a tab-indented key=value of a virtual
    for line in lines:
        assert not line or line.startswith("#") or re.fullmatch(r"\t?[a-z]+=\S.*", line), line


def test_ldirectord_http_check_quiescent_with_fallback_and_persistence(ldirectord_cf):
    assert section(ldirectord_cf, "10.20.0.10:80") == [
        "\treal=10.20.0.11:80 gate 2", "\treal=10.20.0.12:80 gate 1", "\tprotocol=tcp", "\tscheduler=wrr",
        "\tpersistent=300", "\tnetmask=255.255.255.0", "\tchecktype=negotiate", "\tcheckinterval=4",
        "\tchecktimeout=2", "\tfailurecount=2", "\tquiescent=yes", "\tservice=http", "\tnegotiatetimeout=2",
        '\trequest="/whoami"', '\treceive="ok\\."', "\tvirtualhost=www.example.com", "\tfallback=127.0.0.1:80 gate"]


def test_ldirectord_fwmark_misc_udp_and_https(ldirectord_cf):
    mark = section(ldirectord_cf, "7")
    assert "\tprotocol=fwm" in mark and "\tchecktype=connect" in mark and "\tcheckport=443" in mark
    assert mark[:2] == ["\treal=10.20.0.11:0 gate 1", "\treal=10.20.0.12:0 gate 1"]
    script = section(ldirectord_cf, "10.20.0.10:8080")
    assert "\tchecktype=external" in script and '\tcheckcommand="/usr/local/sbin/check-it"' in script
    dns = section(ldirectord_cf, "10.20.0.10:53")
    assert "\tprotocol=udp" in dns and "\tchecktype=on" in dns
    assert not any(line.startswith(("\tcheckport", "\tservice", "\trequest")) for line in dns)
    tls = section(ldirectord_cf, "10.20.0.10:443")
    assert "\tservice=https" in tls and '\trequest="/"' in tls and "\tquiescent=no" in tls
    assert not any(line.startswith(("\treceive", "\tfallback", "\tvirtualhost")) for line in tls)


# ---- the plan of a director with a checker (Change lists; FakeHost stands in for the daemon below) -----------------

def example(tmp_path: Path, checker: str) -> Path:
    """The DR example with `checker` on its director (the dr plan fixture describes that director's host)."""
    data = yaml.safe_load((REPO / "inventories" / "examples" / "dr.yml").read_text())
    data["all"]["vars"]["lvs_health_checker"] = checker
    path = tmp_path / f"dr-{checker}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fresh_director(tmp_path: Path, checker: str):
    cluster = load_cluster(example(tmp_path, checker))
    host = cluster.hosts["director1"]
    tasks = host_tasks(cluster, host)
    return tasks, fresh_facts(fixture("dr", "director1"), facts_request(tasks))


@pytest.mark.parametrize("checker, conf", [("keepalived", KEEPALIVED_CONF), ("ldirectord", LDIRECTORD_CF)])
def test_fresh_director_with_a_checker(tmp_path, checker, conf):
    tasks, facts = fresh_director(tmp_path, checker)
    request = facts_request(tasks)
    assert checker in request.packages and conf in request.files
    assert {"keepalived.service", "ldirectord.service"} <= request.units
    plan = plan_host(tasks, facts)
    assert plan.error is None
    changes = {p.change.resource: p.change for p in plan.changes}
    resources = list(changes)
    expected = [f"package {checker}"] + ([f"file {DROP_IN}"] if checker == "keepalived" else []) + [
        f"file {conf}", f"file {RECORD}", f"service {checker}.service"]
    assert [r for r in resources if r in expected] == expected
    # the daemon creates the services when it starts: lvsdeploy adds none itself, and records them as its
    assert not any(r.startswith("ipvs ") for r in resources)
    record = changes[f"file {RECORD}"]
    assert record.diff == (f"+ TCP 10.20.0.10:80 {checker}", f"+ UDP 10.20.0.10:53 {checker}")
    # the config is tested on the new content before the mv; the daemon is enabled and started
    write = changes[f"file {conf}"].commands
    config_test = checkers.CONFIG_TEST[checker].replace("%s", '"$lvs_tmp"')
    assert write[-2].startswith(f"if ! ( {config_test} ); then rm -f \"$lvs_tmp\"; ")
    assert write[-1] == f'mv -f -- "$lvs_tmp" {conf}'
    assert f"systemctl start {checker}.service" in changes[f"service {checker}.service"].commands
    assert f"systemctl --no-reload enable {checker}.service" in changes[f"service {checker}.service"].commands
    assert plan.handlers == [(f"reload {checker}", f"systemctl reload {checker}.service")]
    # nothing for boot: the daemon makes its services at boot
    rules = changes["file /etc/lvsdeploy/ipvs.rules"]
    assert rules.diff == ("+ empty file",)


def test_keepalived_drop_in_is_read_by_systemd_before_keepalived_starts(tmp_path):
    tasks, facts = fresh_director(tmp_path, "keepalived")
    changes = [p.change for p in plan_host(tasks, facts).changes]
    resources = [c.resource for c in changes]
    drop_in = changes[resources.index(f"file {DROP_IN}")]
    start = changes[resources.index("service keepalived.service")]
    assert "lvs_systemd_stale=1" in drop_in.commands
    assert start.commands.index("lvs_systemd_fresh") < start.commands.index("systemctl start keepalived.service")


class CheckerHost(FakeHost):
    """FakeHost with a health checker's package: its unit comes with the package, its config test passes on the
    content written to the temp file, and once it runs it creates the inventory's services (as the daemon does
    from its config file)."""

    def __init__(self, facts, checker: str, services):
        super().__init__(facts)
        self.checker, self.services, self.tested = checker, services, []

    def command(self, command: str) -> None:
        if command.startswith("if ! ( "):
            self.tested.append((command, self.tmp["content"]))
            return
        super().command(command)

    def systemctl(self, args: list[str]) -> None:
        unit = f"{self.checker}.service"
        if args[-1] == unit:
            assert self.facts.packages.get(self.checker), f"Unit {unit} does not exist"
            verb = args[-2]
            if verb == "reload":
                assert self.facts.units[unit].active == "active", f"{unit} is not active, cannot reload"
                return
            if verb in ("enable", "disable"):
                self.unit_file_states[unit] = f"{verb}d"
                return
            assert verb == "start", args
            old = self.facts.units.get(unit) or UnitFact("loaded", "disabled", "inactive")
            self.facts.units[unit] = UnitFact("loaded", old.enabled, "active")
            self.facts.ipvs.services = copy.deepcopy(self.services)
            return
        super().systemctl(args)


@pytest.mark.parametrize("checker, conf", [("keepalived", KEEPALIVED_CONF), ("ldirectord", LDIRECTORD_CF)])
def test_a_director_with_a_checker_converges(tmp_path, checker, conf):
    tasks, facts = fresh_director(tmp_path, checker)
    (table,) = [t for t in tasks.tasks if t.module == "ipvs"]
    target = CheckerHost(facts, checker, table.args["services"])
    converged = target.run(plan_host(tasks, facts))
    # the config test ran once, on exactly the content that was then installed
    ((command, content),) = target.tested
    assert checkers.CONFIG_TEST[checker].split()[0] in command
    assert converged.files[conf].content == content
    again = plan_host(tasks, converged)
    assert again.error is None
    assert [p.change.resource for p in again.changes] == []
    assert again.handlers == [] and again.notes == []
    # keepalived takes a real server out: a note, no change
    service = next(s for s in converged.ipvs.services if s.port == 80)
    service.destinations = service.destinations[1:]
    later = plan_host(tasks, converged)
    assert later.changes == []
    (note,) = later.notes
    assert note.startswith("ipvs TCP 10.20.0.10:80 -> 10.20.0.11:80: out of rotation") and checker in note


def test_handover_of_a_converged_director_from_none_to_keepalived_and_back(tmp_path):
    # none: lvsdeploy made the table. keepalived: package, drop-in, conf, the record handed over, keepalived
    # started; the table is already the inventory's, so no ipvsadm edit.
    none_tasks, facts = fresh_director(tmp_path, "none")
    lvsdeploy_made = FakeHost(facts).run(plan_host(none_tasks, facts))
    keepalived_tasks, _ = fresh_director(tmp_path, "keepalived")
    for unit in ("keepalived.service", "ldirectord.service"):
        lvsdeploy_made.units.setdefault(unit, UnitFact("not-found", "", "inactive"))
    lvsdeploy_made.files.update({path: FileFact(False) for path in (DROP_IN, KEEPALIVED_CONF)})
    lvsdeploy_made.packages.setdefault("keepalived", None)
    plan = plan_host(keepalived_tasks, lvsdeploy_made)
    assert plan.error is None
    changes = {p.change.resource: p.change for p in plan.changes}
    assert list(changes) == ["package keepalived", f"file {DROP_IN}", f"file {KEEPALIVED_CONF}", f"file {RECORD}",
                             "service keepalived.service", "file /etc/lvsdeploy/ipvs.rules"]
    assert changes[f"file {RECORD}"].diff == ("~ TCP 10.20.0.10:80: kept by lvsdeploy -> keepalived",
                                              "~ UDP 10.20.0.10:53: kept by lvsdeploy -> keepalived")
    (table,) = [t for t in keepalived_tasks.tasks if t.module == "ipvs"]
    target = CheckerHost(lvsdeploy_made, "keepalived", table.args["services"])
    kept = target.run(plan_host(keepalived_tasks, lvsdeploy_made))
    assert plan_host(keepalived_tasks, kept).changes == []
    # back to none: keepalived stopped and disabled before the record says lvsdeploy; no ipvsadm edit (the table
    # is the inventory's); the boot rules hold the table again
    back = plan_host(none_tasks, kept)
    assert back.error is None
    resources = [p.change.resource for p in back.changes]
    assert resources == ["service keepalived.service", f"file {RECORD}", "file /etc/lvsdeploy/ipvs.rules"]
    stop = back.changes[0].change
    assert "systemctl stop keepalived.service" in stop.commands
    assert "systemctl --no-reload disable keepalived.service" in stop.commands
    assert back.changes[1].change.diff == ("~ TCP 10.20.0.10:80: kept by keepalived -> lvsdeploy",
                                           "~ UDP 10.20.0.10:53: kept by keepalived -> lvsdeploy")


# ---- a drain kept by the checker's own configuration -----------------------------------------------------------

def drained_configs(tmp_path: Path, checker: str, record: str, request: tuple[list, list] = ([], [])) -> str:
    """The checker's configuration as the engine renders it once the director's facts (its drain record) are
    read, with this run's drain/undrain request."""
    from lvsdeploy.facts import HostFacts
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump(inventory(checker), sort_keys=False))
    cluster = load_cluster(path)
    cluster.drain_request = request
    facts = HostFacts(files={"/etc/lvsdeploy/drained": FileFact(True, record.encode())})
    tasks = host_tasks(cluster, cluster.hosts["director1"], facts)
    assert tasks.error is None, tasks.error
    return files_written(tasks)[{"keepalived": KEEPALIVED_CONF, "ldirectord": LDIRECTORD_CF}[checker]]


RS1_WEB_DRAINED = "TCP 10.20.0.10:80 10.20.0.11:80 2026-11-30T17:00:00Z\n"


def test_keepalived_gives_a_drained_realserver_weight_0_in_that_service_only(tmp_path):
    conf = drained_configs(tmp_path, "keepalived", RS1_WEB_DRAINED)
    web = "\n".join(block(conf, "virtual_server 10.20.0.10 80"))
    assert re.search(r"real_server 10\.20\.0\.11 80 \{\n# drained by `lvsdeploy drain` \(inventory weight 2\)"
                     r"[^\n]*\nweight 0\n", web), web
    assert re.search(r"real_server 10\.20\.0\.12 80 \{\nweight 1\n", web), web
    tls = "\n".join(block(conf, "virtual_server 10.20.0.10 443"))
    assert "weight 0" not in tls and "drained" not in tls
    # no record: the inventory's weights; the record's line for a service the inventory lacks changes nothing
    assert "drained" not in drained_configs(tmp_path, "keepalived", "TCP 10.20.0.99:80 10.20.0.11:80 "
                                                                    "2026-11-30T17:00:00Z\n")


def test_ldirectord_drain_request_and_undrain_of_this_run(tmp_path):
    asked = {"service": "TCP 10.20.0.10:443", "dest": "10.20.0.12:443", "since": "2026-11-30T17:05:00Z"}
    conf = drained_configs(tmp_path, "ldirectord", RS1_WEB_DRAINED, ([asked], []))
    assert "\treal=10.20.0.11:80 gate 0" in section(conf, "10.20.0.10:80")
    assert "\treal=10.20.0.12:80 gate 1" in section(conf, "10.20.0.10:80")
    assert "\treal=10.20.0.12:443 gate 0" in section(conf, "10.20.0.10:443")
    undrained = drained_configs(tmp_path, "ldirectord", RS1_WEB_DRAINED,
                                ([], [{"service": "TCP 10.20.0.10:80", "dest": "10.20.0.11:80"}]))
    assert "\treal=10.20.0.11:80 gate 2" in section(undrained, "10.20.0.10:80")
    assert "drained" not in undrained
