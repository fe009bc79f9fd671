"""Hostile values in every inventory field that reaches a remote command, a file or a config: each is either
refused by validate (FILE:LINE) or, where it is accepted, the apply script built from it runs in a throw-away
shell without ever executing it. The shell's commands are stubs (nothing on this machine changes) except
`touch`: every hostile value tries to touch a sentinel file, which must not appear."""

import copy
import dataclasses
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from lvsdeploy.errors import InventoryError
from lvsdeploy.inventory import load_cluster
from lvsdeploy.plan import facts_request, host_tasks, plan_host

from test_hostile_inventories import BASE, _host, _service, _share, _vars
from test_plan import fixture, fresh_facts

STUBBED = ("ipvsadm", "ip", "modprobe", "sysctl", "systemctl", "mount", "umount", "mkdir", "base64", "chown",
           "chmod", "mv", "rm", "cat", "sha256sum", "cut", "exportfs", "flock", "setsid", "id", "sleep", "kill",
           "apt-get", "dpkg-query", "dpkg")


def hostile(sentinel: Path) -> list[str]:
    s = str(sentinel)
    return [f"'; touch {s}; '", f'"; touch {s}; "', f"$(touch {s})", f"`touch {s}`", f";touch {s};",
            f"\ntouch {s}", f"-o x;touch {s}", f"a b;touch {s}", f"/srv/x$(touch {s})", f"/srv/x';touch {s};'",
            f"/srv/x\ntouch {s}", f"eth0;touch {s}", f"x' && touch {s} && '"]


# Every field whose value reaches a script, a file lvsdeploy writes, or a config: (id, setter)
FIELDS = [
    ("share.export", lambda d, v: _share(d).update(export=v)),
    ("share.mount", lambda d, v: _share(d).update(mount=v)),
    ("share.name", lambda d, v: _share(d).update(name=v)),
    ("share.options.export", lambda d, v: _share(d).update(options={"export": v})),
    ("share.options.mount", lambda d, v: _share(d).update(options={"mount": v})),
    ("service.name", lambda d, v: _service(d).update(name=v)),
    ("service.vip", lambda d, v: _service(d).update(vip=v)),
    ("service.scheduler", lambda d, v: _service(d).update(scheduler=v)),
    ("service.protocol", lambda d, v: _service(d).update(protocol=v)),
    ("realserver.host", lambda d, v: _service(d)["realservers"][0].update(host=v)),
    ("lvs_dip", lambda d, v: _host(d, "directors", "director1").update(lvs_dip=v)),
    ("lvs_dip_interface", lambda d, v: _host(d, "directors", "director1").update(lvs_dip_interface=v)),
    ("lvs_vip_interface", lambda d, v: _host(d, "directors", "director1").update(lvs_vip_interface=v)),
    ("lvs_rip_interface", lambda d, v: _host(d, "realservers", "rs1").update(lvs_rip_interface=v)),
    ("ansible_host", lambda d, v: _host(d, "directors", "director1").update(ansible_host=v)),
    ("ansible_user", lambda d, v: _vars(d).update(ansible_user=v)),
    ("ansible_ssh_common_args", lambda d, v: _vars(d).update(ansible_ssh_common_args=v)),
    ("ansible_ssh_private_key_file", lambda d, v: _vars(d).update(ansible_ssh_private_key_file=v)),
    ("lvs_known_hosts_file", lambda d, v: _vars(d).update(lvs_known_hosts_file=v)),
    ("host name", lambda d, v: d["all"]["children"]["storage"]["hosts"].update({v: None})),
    ("group name", lambda d, v: d["all"]["children"].update({v: {"hosts": {"x1": None}}})),
]


def sandbox(tmp_path: Path) -> dict:
    """A PATH of stubs: every command the scripts use exits 0 and does nothing (mktemp names a file here);
    only sh and touch are real."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in STUBBED:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    (bin_dir / "mktemp").write_text(f"#!/bin/sh\necho {tmp_path}/scratch\n")
    (bin_dir / "mktemp").chmod(0o755)
    for real in ("sh", "touch"):
        (bin_dir / real).symlink_to(f"/bin/{real}" if Path(f"/bin/{real}").exists() else f"/usr/bin/{real}")
    return {"PATH": str(bin_dir), "LC_ALL": "C"}


def run_in_sandbox(script: str, env: dict) -> subprocess.CompletedProcess:
    # the script sets the real PATH of a host; here it must keep the stubs
    script = re.sub(r"^export LC_ALL=C PATH=\S+$", "export LC_ALL=C", script, count=1, flags=re.M)
    assert "export LC_ALL=C\n" in script
    return subprocess.run(["/bin/sh", "-s"], input=script, text=True, capture_output=True, env=env, timeout=30)


LOCAL_FILES = ("ansible_ssh_private_key_file", "lvs_known_hosts_file")
FACT_HOSTS = {"director1": ("dr", "director1"), "rs1": ("dr", "rs1"), "storage1": ("dr", "storage1")}


@pytest.mark.parametrize("field, setter", FIELDS, ids=[f for f, _ in FIELDS])
def test_hostile_value_is_refused_or_inert(field, setter, tmp_path):
    sentinel = tmp_path / "PWNED"
    env = sandbox(tmp_path)
    accepted = 0
    for value in hostile(sentinel):
        data = copy.deepcopy(BASE)
        setter(data, value)
        path = tmp_path / "inv.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        try:
            cluster = load_cluster(path)
        except InventoryError as exc:
            assert all(p.file == str(path) and p.line for p in exc.problems), exc.problems
            continue
        accepted += 1
        for name, host in cluster.hosts.items():
            if name not in FACT_HOSTS:
                continue
            tasks = host_tasks(cluster, host)
            assert tasks.error is None, tasks.error
            facts = fresh_facts(fixture(*FACT_HOSTS[name]), facts_request(tasks))
            plan = plan_host(tasks, facts)
            assert plan.error is None, plan.error
            guarded = run_in_sandbox(plan.script(), env)          # the stubs' empty hashes: stale, exit 76
            unguarded = dataclasses.replace(plan, changes=[dataclasses.replace(
                p, change=dataclasses.replace(p.change, guards=())) for p in plan.changes])
            ran = run_in_sandbox(unguarded.script(), env)         # every command, through the stubs
            assert ran.returncode == 0, f"{field}={value!r} on {name}: {ran.stderr}"
            assert guarded.returncode in (0, 76), guarded.stderr
            assert not sentinel.exists(), f"{field}={value!r} ran as code on {name}"
    # Fields that reach the hosts take none of these values. Files on this machine may have any printable name
    # (they are only opened here, and written double-quoted into verify's ssh_config): accepted, and inert.
    assert not sentinel.exists()
    if field not in LOCAL_FILES:
        assert accepted == 0, f"{field}: hostile values must be refused outright"


def test_the_sandbox_would_see_an_injection(tmp_path):
    """The harness itself: a command that does touch the sentinel is seen."""
    sentinel = tmp_path / "PWNED"
    ran = run_in_sandbox(f"set -eu\nexport LC_ALL=C PATH=/usr/bin:/bin\nmkdir -p /x\ntouch {sentinel}\n",
                         sandbox(tmp_path))
    assert ran.returncode == 0 and sentinel.exists() and not os.path.exists("/x")
