"""Benchmark: the lab's DR job done by an Ansible playbook and by lvsdeploy, each on freshly booted lab VMs,
in one run. Prints full-converge and no-op times, their ratios, and what each side did per host.

    .venv/bin/python benchmarks/ansible_vs_lvsdeploy.py [--out results.json]

What it runs, in order (about 10 minutes on 2 TCG cores; the lab is left down):
  1. ansible-core in a venv of its own (~/.cache/lvsdeploy/bench/ansible, installed with pip the first time);
  2. a fresh DR lab; benchmarks/ansible/site.yml on it twice (full converge, then no-op); `lvsdeploy verify`
     on the result, so the playbook is shown to do the job (verify is not timed);
  3. a fresh DR lab again; `lvsdeploy apply` (full converge), `lvsdeploy plan` and `lvsdeploy apply` with
     nothing to do (no-op); `lvsdeploy verify` (timed: the suite's own figure).
Ansible runs with forks 50, SSH pipelining and ControlPersist, without fact gathering (less work than its
default, so the ratios are if anything flattering to Ansible). Numbers come from one run on whatever machine
runs it; quote them with the machine's description and the date. The lab is its own (`--name bench`), so a
lab of yours is left alone; run it on an otherwise idle machine, or the times mean little.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from lvsdeploy.desired import host_vars
from lvsdeploy.inventory import load_cluster
from lvsdeploy.modules.ipvs import rules_lines

HERE = Path(__file__).resolve().parent
PLAYBOOK_DIR = HERE / "ansible"
ANSIBLE_VENV = Path.home() / ".cache" / "lvsdeploy" / "bench" / "ansible"
ANSIBLE_REQUIREMENT = "ansible-core>=2.17,<2.20"
LVSDEPLOY = [sys.executable, "-m", "lvsdeploy"]
LAB = ["--name", "bench"]


def sh(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, capture_output=True, **kwargs)


def timed(cmd: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    result = sh(cmd, **kwargs)
    return time.monotonic() - started, result


def must(result: subprocess.CompletedProcess, what: str, ok=(0,)) -> subprocess.CompletedProcess:
    if result.returncode not in ok:
        sys.exit(f"{what} failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def ansible_bin() -> Path:
    """ansible-playbook from the benchmark's own venv (pip installs ansible-core there the first time)."""
    playbook = ANSIBLE_VENV / "bin" / "ansible-playbook"
    if not playbook.exists():
        must(sh([sys.executable, "-m", "venv", str(ANSIBLE_VENV)]), "creating the Ansible venv")
        must(sh([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", ANSIBLE_REQUIREMENT]), "pip install ansible-core")
    return playbook


def fresh_lab() -> Path:
    sh([*LVSDEPLOY, "lab", "down", *LAB])
    must(sh([*LVSDEPLOY, "lab", "up", "--topology", "dr", *LAB]), "lvsdeploy lab up")
    return Path(must(sh([*LVSDEPLOY, "lab", "inventory", *LAB]), "lvsdeploy lab inventory").stdout.strip())


def bench_vars(cluster, host) -> dict:
    """The values the playbook needs for one host, from the same inventory lvsdeploy reads."""
    v = host_vars(cluster, host)
    own = v.get("lvs_dip") or v.get("lvs_rip") or v.get("lvs_storage_ip") or v.get("lvs_client_ip")
    if "directors" in host.groups:
        modules, sysctls = v["lvs_director_modules"], v["lvs_director_sysctls"]
    elif "realservers" in host.groups:
        modules, sysctls = (["ipip"] if v["lvs_realserver_ipip"] else []), v["lvs_realserver_sysctls"]
    else:
        modules, sysctls = [], {}
    return {
        "address": str(own),
        "modules": list(modules),
        "sysctls": {k: str(val) for k, val in sysctls.items()},
        "vips": list(v.get("lvs_vips") or []),
        "realserver_vips": [dict(x) for x in v.get("lvs_realserver_vips") or []],
        "mounts": [dict(m) for m in v.get("lvs_share_mounts") or []],
        "exports": [{"path": e["path"], "clients": list(e["clients"]), "options": e["options"]}
                    for e in v.get("lvs_exports") or []],
        "ipvs_rules": rules_lines(v["lvs_ipvs_services"]) if "directors" in host.groups else [],
    }


def write_ansible_project(inventory: Path, workdir: Path) -> Path:
    cluster = load_cluster(str(inventory))
    raw = yaml.safe_load(inventory.read_text())["all"]
    groups: dict = {}
    for group in ("storage", "realservers", "directors"):
        for host in (h for h in cluster.hosts.values() if group in h.groups):
            entry = raw["children"][group]["hosts"][host.name]
            groups.setdefault(group, {"hosts": {}})["hosts"][host.name] = {
                "ansible_host": entry["ansible_host"], "ansible_port": entry["ansible_port"],
                "bench": bench_vars(cluster, host)}
    known_hosts = raw["vars"]["lvs_known_hosts_file"]
    (workdir / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_user": raw["vars"]["ansible_user"],
                 "ansible_ssh_private_key_file": raw["vars"]["ansible_ssh_private_key_file"],
                 "ansible_python_interpreter": "/usr/bin/python3",
                 "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"},
        "children": groups}}, sort_keys=False))
    (workdir / "ansible.cfg").write_text(
        "[defaults]\nforks = 50\nhost_key_checking = True\nretry_files_enabled = False\n"
        f"local_tmp = {workdir}/.ansible-tmp\n"
        "[ssh_connection]\npipelining = True\n"
        "ssh_args = -o ControlMaster=auto -o ControlPersist=60s\n"
        f"control_path_dir = {workdir}/cp\n")
    for name in ("site.yml", "common.yml", "boot.yml", "package.yml"):
        (workdir / name).write_text((PLAYBOOK_DIR / name).read_text())
    return workdir / "site.yml"


RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def ansible_recap(output: str) -> dict:
    return {m[1]: {"ok": int(m[2]), "changed": int(m[3]), "failed": int(m[5]) + int(m[4])}
            for m in RECAP.finditer(output)}


LVS_RECAP = re.compile(r"│\s*(\S+)\s*│\s*(\w+)\s*│\s*(\d+)\s*│\s*(\d+)\s*│")


def lvsdeploy_recap(output: str) -> dict:
    return {m[1]: {"status": m[2], "changes": int(m[3]), "round_trips": int(m[4])} for m in LVS_RECAP.finditer(output)}


def run_ansible(playbook_bin: Path) -> dict:
    inventory = fresh_lab()
    with tempfile.TemporaryDirectory(prefix="lvsbench-") as tmp:
        site = write_ansible_project(inventory, Path(tmp))
        env = {**os.environ, "ANSIBLE_CONFIG": str(Path(tmp) / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
        command = [str(playbook_bin), "-i", str(Path(tmp) / "hosts.yml"), str(site)]
        converge_s, first = timed(command, env=env, cwd=tmp)
        must(first, "ansible-playbook (full converge)")
        noop_s, second = timed(command, env=env, cwd=tmp)
        must(second, "ansible-playbook (no-op)")
    verify = sh([*LVSDEPLOY, "verify", str(inventory)])
    return {"converge_s": converge_s, "noop_s": noop_s, "first": ansible_recap(first.stdout),
            "second": ansible_recap(second.stdout), "tasks": first.stdout.count("\nTASK ["),
            "verify": verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else "",
            "verify_exit": verify.returncode}


def run_lvsdeploy() -> dict:
    inventory = fresh_lab()
    converge_s, applied = timed([*LVSDEPLOY, "apply", "--yes", "-v", str(inventory)])
    must(applied, "lvsdeploy apply (full converge)")
    plan_s, planned = timed([*LVSDEPLOY, "plan", str(inventory)])
    must(planned, "lvsdeploy plan (no-op)")
    noop_s, again = timed([*LVSDEPLOY, "apply", "--yes", "-v", str(inventory)])
    must(again, "lvsdeploy apply (no-op)")
    verify_s, verify = timed([*LVSDEPLOY, "verify", str(inventory)])
    return {"converge_s": converge_s, "plan_noop_s": plan_s, "apply_noop_s": noop_s, "verify_s": verify_s,
            "first": lvsdeploy_recap(applied.stdout), "second": lvsdeploy_recap(again.stdout),
            "plan_says": planned.stdout.strip().splitlines()[-1],
            "verify": verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else "",
            "verify_exit": verify.returncode}


def _row(label: str, ansible_s: float, lvsdeploy_s: float) -> str:
    return f"{label:23}{ansible_s:7.1f} s  {lvsdeploy_s:7.1f} s  {ansible_s / lvsdeploy_s:5.1f}x"


def report(a: dict, lv: dict) -> str:
    lines = [
        "                         Ansible    lvsdeploy   ratio",
        _row("full converge", a["converge_s"], lv["converge_s"]),
        _row("no-op (lvsdeploy plan)", a["noop_s"], lv["plan_noop_s"]),
        _row("no-op (lvsdeploy apply)", a["noop_s"], lv["apply_noop_s"]),
        "",
        f"Ansible: {a['tasks']} tasks over its plays; per host, first run (ok/changed) and no-op run (changed):",
    ]
    for host, first in sorted(a["first"].items()):
        second = a["second"].get(host, {})
        lines.append(f"  {host:10} ok={first['ok']:3} changed={first['changed']:3}   "
                     f"no-op changed={second.get('changed')}")
    lines.append(f"  lvsdeploy verify after the playbook: {a['verify']} (exit {a['verify_exit']})")
    lines.append("lvsdeploy: per host, first apply (changes, round trips) and no-op apply (round trips):")
    for host, first in sorted(lv["first"].items()):
        second = lv["second"].get(host, {})
        lines.append(f"  {host:10} changes={first['changes']:3} round trips={first['round_trips']}   "
                     f"no-op round trips={second.get('round_trips')}")
    lines.append(f"  {lv['plan_says']}")
    lines.append(f"  lvsdeploy verify: {lv['verify']} in {lv['verify_s']:.1f} s (exit {lv['verify_exit']})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the measurements here as JSON")
    args = parser.parse_args()
    playbook_bin = ansible_bin()
    version = sh([str(playbook_bin), "--version"]).stdout.splitlines()[0]
    ansible = run_ansible(playbook_bin)
    if ansible["verify_exit"] != 0:   # then the playbook did not do the job, and no ratio means anything
        sh([*LVSDEPLOY, "lab", "down", *LAB])
        sys.exit(f"lvsdeploy verify fails on the playbook's result: {ansible['verify']}")
    lvsdeploy = run_lvsdeploy()
    sh([*LVSDEPLOY, "lab", "down", *LAB])
    print(f"{version}; {time.strftime('%Y-%m-%d')}; {os.cpu_count()} cores")
    print(report(ansible, lvsdeploy))
    if args.out:
        Path(args.out).write_text(json.dumps({"ansible": ansible, "lvsdeploy": lvsdeploy, "ansible_version": version},
                                             indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
