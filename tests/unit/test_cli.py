"""cli.py: `validate` and `plan` on valid and broken inventories. A broken inventory is reported as
FILE[:LINE]: WHERE: WHAT lines, exit 1, no traceback, and nothing is contacted over the network."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from lvsdeploy import cli, engine
from lvsdeploy.errors import InventoryError
from lvsdeploy.executor import RemoteError
from lvsdeploy.inventory import load_cluster

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "inventories" / "examples"

BROKEN = {
    "inv.yml": """\
        all:
          vars:
            lvs_virtual_services:
              - name: web
                vip: 10.20.0.10
                port: 80
                mode: dr
                scheduler: fastest
                realservers:
                  - {host: rs1, weight: heavy}
          children:
            directors:
              hosts:
                director1: {ansible_host: 172.16.0.2}
            realservers:
              hosts:
                rs1: {ansible_host: 172.16.0.11, lvs_rip: 10.20.0.11, lvs_rpi: eth0}
                rs2: {ansible_host: 172.16.0.12}
        """,
    "host_vars/rs2.yml": "lvs_rip: 10.20.0.12/24\nansible_port: seventy\n",
}
PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+)(:(?P<line>\d+))?: (?P<where>[^:]+(: [^:]+)?): (?P<what>.+)$")


@pytest.fixture
def broken(tmp_path) -> Path:
    for name, text in BROKEN.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(dedent(text))
    return tmp_path / "inv.yml"


@pytest.fixture
def no_network(monkeypatch):
    """Every way out is recorded and refused: sockets, and the engine's SSH connect."""
    attempts = []

    def refuse(what):
        def refused(*args, **kwargs):
            attempts.append((what, args[1:] if what.startswith("socket.socket") else args))
            raise OSError(f"test: no network allowed ({what})")
        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(engine, "connect", refuse("engine.connect"))
    return attempts


def expected_problems(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        load_cluster(path)
    return [str(p) for p in caught.value.problems]


# ---- validate ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["nat", "dr", "tun"])
def test_validate_a_valid_example_prints_a_summary(mode, capsys, no_network):
    path = EXAMPLES / f"{mode}.yml"
    assert cli.main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"{path}: valid"
    assert "  directors: director1" in lines
    assert "  real servers: rs1, rs2" in lines
    assert "  storage: storage1" in lines
    assert any(line.startswith("  service web: tcp ") and f" {mode} " in line for line in lines)
    assert no_network == []


def test_validate_says_fullnat_hides_the_clients_address(capsys):
    assert cli.main(["validate", str(EXAMPLES / "fullnat.yml")]) == 0
    out = capsys.readouterr().out
    assert "  source NAT (web, dns): the real servers see the director's DIP as every client's address" in out
    assert cli.main(["validate", str(EXAMPLES / "nat.yml")]) == 0
    assert "source NAT" not in capsys.readouterr().out


def test_validate_summary_of_the_dr_example(capsys):
    assert cli.main(["validate", str(EXAMPLES / "dr.yml")]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  directors: director1",
        "  real servers: rs1, rs2",
        "  storage: storage1",
        "  service web: tcp 10.20.0.10:80 dr rr -> rs1:80 w1, rs2:80 w1",
        "  service dns: udp 10.20.0.10:53 dr wrr -> rs1:53 w2, rs2:53 w1",
        "  health checker: none (nothing tests the real servers: a failed one stays in rotation)",
        "  share content: nfs storage1:/srv/lvs/content -> /var/www/html/shared",
    ]


def test_validate_a_broken_inventory_lists_every_problem(broken, capsys, no_network):
    expected = expected_problems(broken)
    assert len(expected) >= 5
    assert cli.main(["validate", str(broken)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[:-1] == expected
    assert lines[-1] == f"{len(expected)} problems; nothing was changed."
    for line in lines[:-1]:
        match = PROBLEM_LINE.match(line)
        assert match, line
        assert match["file"] in (str(broken), str(broken.parent / "host_vars" / "rs2.yml"))
    assert "Traceback" not in err
    assert no_network == []


def test_validate_names_each_problem_where_it_is(broken, capsys):
    cli.main(["validate", str(broken)])
    err = capsys.readouterr().err
    host_vars = broken.parent / "host_vars" / "rs2.yml"
    for needle in [
        f"{broken}:8: service web: scheduler: must be one of rr, wrr,",
        f"{broken}:10: service web: realservers[0].weight: must be an integer between 0 and 65535, got 'heavy'",
        f"{broken}:14: host director1: lvs_dip: is required for hosts in group directors",
        f"{broken}:17: host rs1: lvs_rip: must be an IPv4 address with prefix length",
        f"{broken}:17: host rs1: lvs_rpi: unknown lvsdeploy variable; did you mean 'lvs_rip'?",
        f"{host_vars}:2: host rs2: ansible_port: must be an integer between 1 and 65535, got 'seventy'",
    ]:
        assert needle in err, needle


def test_validate_a_missing_file_and_a_yaml_error(tmp_path, capsys, no_network):
    assert cli.main(["validate", str(tmp_path / "nothere.yml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{tmp_path / 'nothere.yml'}: file: cannot read")
    (tmp_path / "bad.yml").write_text("all:\n  children:\n    directors: [unclosed\n")
    assert cli.main(["validate", str(tmp_path / "bad.yml")]) == 1
    err = capsys.readouterr().err
    assert PROBLEM_LINE.match(err.splitlines()[0]) and err.startswith(f"{tmp_path / 'bad.yml'}:")
    assert "Traceback" not in err
    assert no_network == []


# ---- plan / apply ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"], ["apply", "--check"], ["plan", "--limit", "rs1"]])
def test_plan_and_apply_on_a_broken_inventory_connect_to_nothing(broken, command, capsys, no_network):
    assert cli.main([command[0], str(broken), *command[1:]]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines()[:-1] == expected_problems(broken)
    assert "nothing was changed" in err
    assert "Traceback" not in out + err
    assert no_network == []


def test_plan_with_unreachable_hosts_fails_without_a_traceback(capsys, monkeypatch):
    def unreachable(host, connect_timeout=None):
        raise RemoteError(f"{host.name}: cannot reach {host.connection.host}:22: timed out")
    monkeypatch.setattr(engine, "connect", unreachable)
    assert cli.main(["plan", str(EXAMPLES / "dr.yml"), "--limit", "realservers"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("rs1: ") and lines[0].endswith("rs1: cannot reach 172.16.0.11:22: timed out")
    assert lines[1].startswith("rs2: ") and lines[1].endswith("rs2: cannot reach 172.16.0.12:22: timed out")
    assert lines[2:] == ["Plan: 0 changes on 0 of 2 hosts; 2 hosts failed", "Planning failed; nothing was changed."]
    assert "Traceback" not in out + err


def test_command_is_required(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main([])
    assert caught.value.code == 2
    assert "usage: lvsdeploy" in capsys.readouterr().err


# ---- the real entry point, with sockets forbidden in the interpreter itself ------------------------------

SITECUSTOMIZE = '''\
import os, socket

def _refuse(*args, **kwargs):
    with open(os.environ["LVSDEPLOY_TEST_NETLOG"], "a") as log:
        log.write("connect %r\\n" % (args[1:],))
    raise OSError("test: no network allowed")

socket.socket.connect = socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
with open(os.environ["LVSDEPLOY_TEST_NETLOG"], "a") as log:
    log.write("guard loaded\\n")
'''


def test_python_m_lvsdeploy_validate_broken_inventory_in_a_subprocess(broken, tmp_path):
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(SITECUSTOMIZE)
    netlog = tmp_path / "net.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(guard), str(REPO)]),
           "LVSDEPLOY_TEST_NETLOG": str(netlog), "COLUMNS": "80"}
    result = subprocess.run([sys.executable, "-m", "lvsdeploy", "validate", str(broken)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines()[:-1] == expected_problems(broken)
    assert "Traceback" not in result.stderr
    # The guard was active in that interpreter, and nothing tried to connect.
    assert netlog.read_text() == "guard loaded\n"


def test_limit_naming_no_host_or_group_is_an_error(capsys, no_network):
    code = cli.main(["plan", str(EXAMPLES / "dr.yml"), "--limit", "rs3"])
    out, err = capsys.readouterr()
    assert no_network == []
    assert code == 1
    assert "rs3" in err


def test_drain_of_a_host_no_service_has_is_refused_before_any_connection(capsys, no_network):
    assert cli.main(["drain", str(EXAMPLES / "dr.yml"), "storage1"]) == 1
    assert "storage1 is not a real server of" in capsys.readouterr().err
    assert cli.main(["drain", str(EXAMPLES / "dr.yml"), "rs1", "--service", "nosuch"]) == 1
    assert "rs1 is not a real server of service 'nosuch'" in capsys.readouterr().err
    assert no_network == []


def test_drain_asks_each_service_of_the_host_at_weight_zero():
    from lvsdeploy.drain import request
    cluster = load_cluster(EXAMPLES / "dr.yml")
    assert request(cluster, "rs1", None, "2026-11-30T14:20:05Z") == [
        {"service": "TCP 10.20.0.10:80", "dest": "10.20.0.11:80", "since": "2026-11-30T14:20:05Z"},
        {"service": "UDP 10.20.0.10:53", "dest": "10.20.0.11:53", "since": "2026-11-30T14:20:05Z"}]
    assert [e["service"] for e in request(cluster, "rs1", "dns", "2026-11-30T14:20:05Z")] == ["UDP 10.20.0.10:53"]


def test_validate_json_lists_every_problem_or_the_summary_by_its_schema(broken, capsys, no_network):
    """`validate --format json`: the same problems as the text, at FILE:LINE, exit 1; a valid inventory gives
    its summary, exit 0; both follow lvsdeploy/schemas/validate-1.json; no connection either way."""
    import json

    import jsonschema
    schema = json.loads((Path(cli.__file__).parent / "schemas" / "validate-1.json").read_text())
    assert cli.main(["validate", str(broken)]) == 1
    text_problems = capsys.readouterr().err.splitlines()[:-1]
    assert cli.main(["validate", "--format", "json", str(broken)]) == 1
    out, _ = capsys.readouterr()
    document = json.loads(out)
    jsonschema.validate(document, schema)
    assert document["valid"] is False
    assert [f"{p['file']}:{p['line']}: {p['where']}: {p['what']}" if p["line"] else
            f"{p['file']}: {p['where']}: {p['what']}" for p in document["problems"]] == text_problems
    assert cli.main(["validate", "--format", "json", str(EXAMPLES / "dr.yml")]) == 0
    valid = json.loads(capsys.readouterr().out)
    jsonschema.validate(valid, schema)
    assert valid["valid"] is True and valid["realservers"] == ["rs1", "rs2"]
    assert [s["name"] for s in valid["services"]] == ["web", "dns"]
    assert valid["shares"][0]["source"] == "/srv/lvs/content"
    assert no_network == []


def test_verify_json_is_one_document_on_stdout_with_pytests_report_on_stderr(tmp_path):
    """The plumbing of `verify --format json` (the lab's drain story checks a real run's outcomes): collected
    only here, so that nothing connects."""
    import json

    import jsonschema
    schema = json.loads((Path(cli.__file__).parent / "schemas" / "verify-1.json").read_text())
    inventory = Path(__file__).parent / "fixtures" / "inventories" / "verify" / "cluster.yml"
    result = subprocess.run([sys.executable, "-m", "lvsdeploy", "verify", "--format", "json", str(inventory), "--",
                             "--collect-only"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, schema)
    assert document["exit_status"] == 0 and document["inventory"] == str(inventory.resolve())
    assert "tests collected" in result.stderr
