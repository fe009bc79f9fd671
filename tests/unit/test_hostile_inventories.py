"""A corpus of malformed and hostile inventories: every one is refused by `lvsdeploy validate` and by
`lvsdeploy plan` with FILE:LINE: WHERE: WHAT lines, exit 1, no traceback, bounded time and memory, and no SSH
connection. Each case names the class of attack or mistake it stands for (lvsdeploy runs as root on other
people's machines: an inventory value must never become code, a config directive or a new line)."""

import copy
import os
import re
from pathlib import Path

import pytest
import yaml

from lvsdeploy import cli, engine

BASE = {"all": {
    "vars": {
        "ansible_user": "root",
        "lvs_virtual_services": [{"name": "web", "vip": "10.20.0.10", "port": 80, "mode": "dr",
                                  "realservers": [{"host": "rs1"}]}],
        "lvs_shared_storage": [{"name": "content", "server": "storage1", "export": "/srv/lvs/content",
                                "mount": "/var/www/html/shared"}],
    },
    "children": {
        "directors": {"hosts": {"director1": {"ansible_host": "192.0.2.2", "lvs_dip": "10.20.0.2/24"}}},
        "realservers": {"hosts": {"rs1": {"ansible_host": "192.0.2.11", "lvs_rip": "10.20.0.11/24"}}},
        "storage": {"hosts": {"storage1": {"ansible_host": "192.0.2.20", "lvs_storage_ip": "10.20.0.20/24"}}},
    },
}}


def _vars(d):
    return d["all"]["vars"]


def _host(d, group, name):
    return d["all"]["children"][group]["hosts"][name]


def _service(d):
    return _vars(d)["lvs_virtual_services"][0]


def _share(d):
    return _vars(d)["lvs_shared_storage"][0]


def _rename_host(d, group, old, new):
    hosts = d["all"]["children"][group]["hosts"]
    hosts[new] = hosts.pop(old)


def _set(path_fn, key, value):
    def edit(d):
        path_fn(d)[key] = value
    return edit


# (case id, edit of BASE): the text fed to lvsdeploy is BASE after the edit, as YAML.
EDITED = [
    # values that would become shell code in root's apply script
    ("export-shell-injection", _set(_share, "export", "/srv/x';touch${IFS}/tmp/PWNED;'")),
    ("export-quote", _set(_share, "export", "/srv/o'brien")),
    ("export-command-substitution", _set(_share, "export", "/srv/$(reboot)")),
    ("export-backticks", _set(_share, "export", "/srv/`reboot`")),
    ("export-semicolon", _set(_share, "export", "/srv/a;reboot")),
    ("export-space", _set(_share, "export", "/srv/my share")),
    ("export-newline", _set(_share, "export", "/srv/a\nreboot")),
    ("mount-leading-dash", _set(_share, "mount", "-o/remount")),
    ("mount-relative", _set(_share, "mount", "var/www")),
    ("mount-dotdot", _set(_share, "mount", "/var/www/../../etc")),
    # system directories
    ("export-etc", _set(_share, "export", "/etc")),
    ("mount-etc", _set(_share, "mount", "/etc")),
    ("export-root", _set(_share, "export", "/")),
    ("mount-usr", _set(_share, "mount", "/usr")),
    ("mount-inside-boot", _set(_share, "mount", "/boot/efi")),
    ("export-var", _set(_share, "export", "/var/")),
    ("export-options-break-out", _set(_share, "options", {"export": "rw),*(rw"})),
    ("mount-options-space", _set(_share, "options", {"mount": "rw bg"})),
    # names written into files read at boot (network script, sysctl.d, modules-load.d)
    ("host-name-newline", lambda d: _rename_host(d, "realservers", "rs1", "rs1\nExecStart=/bin/sh")),
    ("host-name-space", lambda d: _rename_host(d, "directors", "director1", "director 1")),
    ("host-name-leading-dash", lambda d: _rename_host(d, "directors", "director1", "-oProxyCommand=x")),
    ("host-name-quote", lambda d: _rename_host(d, "directors", "director1", "dir'ector")),
    ("group-name-newline", lambda d: d["all"]["children"].update({"web\nservers": {"hosts": {"x": None}}})),
    ("group-name-dash", lambda d: d["all"]["children"].update({"web-servers": {"hosts": {"x": None}}})),
    ("variable-name-not-identifier", _set(_vars, "my-var", 1)),
    ("service-name-semicolon", _set(_service, "name", "web;reboot")),
    ("interface-injection", _set(lambda d: _host(d, "directors", "director1"), "lvs_dip_interface", "eth0;reboot")),
    ("interface-newline", _set(lambda d: _host(d, "directors", "director1"), "lvs_vip_interface", "eth0\nreboot")),
    # SSH: directives, options and secrets
    ("ansible-host-newline-directive",
     _set(lambda d: _host(d, "directors", "director1"), "ansible_host", "192.0.2.2\nProxyCommand touch /tmp/x")),
    ("ansible-host-option", _set(lambda d: _host(d, "directors", "director1"), "ansible_host", "-oProxyCommand=x")),
    ("ansible-host-space", _set(lambda d: _host(d, "directors", "director1"), "ansible_host", "192.0.2.2 x")),
    ("ansible-user-injection", _set(_vars, "ansible_user", "root;id")),
    ("ansible-user-newline", _set(_vars, "ansible_user", "root\nStrictHostKeyChecking no")),
    ("ansible-port-text", _set(_vars, "ansible_port", "22; rm")),
    ("ansible-password", _set(_vars, "ansible_password", "hunter2")),
    ("ansible-ssh-pass", _set(_vars, "ansible_ssh_pass", "hunter2")),
    ("ansible-become-password", _set(_vars, "ansible_become_password", "hunter2")),
    ("ansible-connection-local", _set(_vars, "ansible_connection", "local")),
    ("ssh-args-no-host-key-check", _set(_vars, "ansible_ssh_common_args", "-o StrictHostKeyChecking=no")),
    ("ssh-args-unknown-flag", _set(_vars, "ansible_ssh_extra_args", "-v -A")),
    ("become-method-su", _set(_vars, "ansible_become_method", "su")),
    ("known-hosts-newline", _set(_vars, "lvs_known_hosts_file", "known\nhosts")),
    # shapes and types
    ("services-not-a-list", _set(_vars, "lvs_virtual_services", "web")),
    ("port-out-of-range", _set(_service, "port", 70000)),
    ("weight-not-a-number", lambda d: _service(d)["realservers"][0].update(weight="heavy")),
    ("vip-integer", _set(_service, "vip", 10)),
    ("unknown-lvs-variable", _set(_vars, "lvs_virtual_service", [])),
    ("only-clients", lambda d: d["all"].update(children={"clients": {"hosts": {"c1": None}}}, vars={})),
]

# (case id, raw bytes): texts no YAML dumper would write
RAW = [
    ("nul-byte", b"all:\n  hosts:\n    a\x00b:\n"),
    ("not-utf8", b"all:\n  vars: {x: \"\xff\xfe\"}\n"),
    ("deep-nesting", b"all:\n  vars:\n    x: " + b"[" * 500 + b"]" * 500 + b"\n"),
    ("alias-bomb", b"a: &a [x,x,x,x,x,x,x,x,x,x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n".encode() for i in range(1, 9))),
    ("top-level-list", b"- all\n- hosts\n"),
    ("duplicate-key", b"all:\n  vars: {}\n  vars: {}\n"),
    ("syntax-error", b"all:\n  vars: [\n"),
    ("empty-file", b""),
    ("vault", b"$ANSIBLE_VAULT;1.1;AES256\n3035\n"),
    ("huge-file", b"# " + b"x" * (5 * 1024 * 1024) + b"\n"),
]

SPECIAL = ["fifo", "dev-zero-symlink", "directory"]


def _write_case(tmp_path: Path, case: str) -> Path:
    path = tmp_path / "inv.yml"
    edits, raws = dict(EDITED), dict(RAW)
    if case in edits:
        data = copy.deepcopy(BASE)
        edits[case](data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=False))
    elif case in raws:
        path.write_bytes(raws[case])
    elif case == "fifo":
        os.mkfifo(path)
    elif case == "dev-zero-symlink":
        path.symlink_to("/dev/zero")
    elif case == "directory":
        path.mkdir()
    return path


@pytest.fixture
def no_ssh(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a refused inventory must not lead to any connection")
    monkeypatch.setattr(engine, "connect", refuse)


ALL = [c for c, _ in EDITED] + [c for c, _ in RAW] + SPECIAL


def test_the_corpus_is_large_and_varied():
    assert len(ALL) >= 40 and len(set(ALL)) == len(ALL)


@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize("case", ALL)
def test_hostile_inventory_is_refused_with_file_and_line(case, command, tmp_path, capsys, no_ssh):
    path = _write_case(tmp_path, case)
    status = cli.main([command, str(path)])
    out, err = capsys.readouterr()
    assert status == 1, f"{case}: exit {status}\n{out}{err}"
    assert "Traceback" not in out + err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(str(path))]
    assert lines, f"{case}: no line names the file:\n{err}"
    # a line number wherever the problem has a place in the file; file-level refusals name the file alone
    file_level = case in ("fifo", "dev-zero-symlink", "directory", "huge-file", "not-utf8", "empty-file",
                          "only-clients")
    if not file_level:
        assert any(re.match(re.escape(str(path)) + r":\d+: ", line) for line in lines), err
    assert "PWNED" not in out


def test_secrets_are_never_echoed(tmp_path, capsys, no_ssh):
    path = _write_case(tmp_path, "ansible-password")
    assert cli.main(["validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "hunter2" not in out + err and "keys only" in err


def test_unknown_ansible_variable_is_a_warning_naming_it(tmp_path, capsys, no_ssh):
    data = copy.deepcopy(BASE)
    _vars(data)["ansible_becom"] = True
    path = tmp_path / "inv.yml"
    path.write_text(yaml.safe_dump(data))
    assert cli.main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert re.search(r"warning: .*inv\.yml:\d+: group all: ansible_becom: not used by lvsdeploy, ignored; "
                     r"did you mean 'ansible_become'\?", err), err


def test_rich_markup_in_a_path_is_printed_as_it_is(tmp_path, capsys, no_ssh):
    odd = tmp_path / "we[/]ird"
    odd.mkdir(parents=True)
    path = _write_case(odd, "export-etc")
    assert cli.main(["validate", str(path)]) == 1
    assert str(path) in capsys.readouterr().err


def test_end_of_input_at_the_prompt_means_no(monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt: (_ for _ in ()).throw(EOFError()))
    assert cli._ask("Apply these changes? [y/N] ") == ""
