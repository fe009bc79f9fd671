"""Helpers for lab tests: run the real CLI, run commands on lab VMs, edit inventories."""

import atexit
import copy
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from lvsdeploy.lab import control

PROJECT_DIR = Path(__file__).resolve().parents[2]


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "lvsdeploy", *args]


def cli_env(extra: dict | None = None) -> dict:
    return {"COLUMNS": "200", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            **_passthrough_env(), **(extra or {})}


def cli(*args: str, timeout: float = 1800, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `lvsdeploy ARGS` as a user would; output is kept for assertions and shown on failure. `env` adds
    variables (SSH_AUTH_SOCK of an agent)."""
    result = subprocess.run(cli_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=timeout, env=cli_env(env))
    print(f"$ lvsdeploy {' '.join(args)}  -> exit {result.returncode}\n{result.stdout}")
    return result


def cli_confirmed_after(inventory: Path, meanwhile, timeout: float = 600) -> subprocess.CompletedProcess:
    """`lvsdeploy apply INVENTORY` at a terminal: once it asks to confirm the plan it has made, `meanwhile()` runs
    (someone changes a host by hand), then the user answers yes."""
    import pty
    import threading
    import time
    master, slave = pty.openpty()
    proc = subprocess.Popen(cli_argv("apply", str(inventory)), stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=cli_env())
    os.close(slave)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(iter(lambda: proc.stdout.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while "Apply these changes?" not in "".join(said):
            assert proc.poll() is None and time.monotonic() < deadline, f"no prompt: {''.join(said)[-3000:]}"
            time.sleep(0.5)
        meanwhile()
        os.write(master, b"yes\n")
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    reader.join(timeout=10)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(said))
    print(f"$ lvsdeploy apply {inventory} (confirmed after a change by hand)  -> exit {result.returncode}\n"
          f"{result.stdout}")
    return result


def cli_json(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run `lvsdeploy ARGS` whose stdout is one JSON document: stdout kept apart from stderr (where verify puts
    pytest's report)."""
    result = subprocess.run(cli_argv(*args), capture_output=True, text=True, timeout=timeout, env=cli_env())
    print(f"$ lvsdeploy {' '.join(args)}  -> exit {result.returncode}\n{result.stderr}\n{result.stdout}")
    return result


def _passthrough_env() -> dict:
    return {k: v for k, v in os.environ.items() if k.startswith(("LVSDEPLOY_", "HOME", "PYTHON"))}


def ssh(lab: str, host: str, command: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(control.ssh_argv(lab, host, [command]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{host}: `{command}` exited {result.returncode}: {result.stderr.strip()}")
    return result


def address(lab_state, host: str, var: str = "lvs_rip") -> str:
    """A lab host's address from its inventory variable (lvs_rip, lvs_dip, lvs_client_ip, ...), without prefix."""
    return lab_state.topology.vm(host).host_vars[var].split("/")[0]


def whoami_counts(lab: str, vip: str, requests: int) -> dict[str, int]:
    """Which real server answered each of `requests` GET /whoami sent from the client to the VIP."""
    out = ssh(lab, "client", f"for i in $(seq {requests}); do curl -s --max-time 5 http://{vip}/whoami; done").stdout
    words = out.split()
    return {name: words.count(name) for name in set(words)}


def edited_inventory(source: Path, dest: Path, edit) -> Path:
    """A copy of an inventory with `edit(data)` applied (data is the parsed YAML)."""
    data = copy.deepcopy(yaml.safe_load(source.read_text()))
    edit(data)
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


_MOLECULE_STATE: dict[tuple[str, str], str] = {}


def _molecule_state(lab: str, scenario: str) -> str:
    """A state directory of this test run's own for one scenario on one lab. Molecule's default is keyed by
    the checkout's folder name (~/.cache/molecule/...), so a clone in a folder an earlier run used would
    inherit that run's "instances already created" and skip its create step."""
    key = (lab, scenario)
    if key not in _MOLECULE_STATE:
        _MOLECULE_STATE[key] = tempfile.mkdtemp(prefix=f"lvsdeploy-molecule-{lab}-{scenario}-")
        atexit.register(shutil.rmtree, _MOLECULE_STATE[key], True)
    return _MOLECULE_STATE[key]


def molecule(lab: str, step: str, scenario: str, cwd: Path, *options: str) -> subprocess.CompletedProcess:
    """`molecule STEP -s SCENARIO [OPTIONS]` against the lab `lab` (the scenarios read $LVSDEPLOY_LAB)."""
    env = {**os.environ, "LVSDEPLOY_LAB": lab, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "ANSIBLE_NOCOLOR": "1", "PY_COLORS": "0", "MOLECULE_EPHEMERAL_DIRECTORY": _molecule_state(lab, scenario)}
    # stdin of its own: Ansible refuses a non-blocking stdin, which an ssh killed earlier in the run can leave
    # behind on the one this process shares with its children
    result = subprocess.run(["molecule", step, "-s", scenario, *options], cwd=cwd, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
    print(f"$ molecule {step} -s {scenario} {' '.join(options)} -> exit {result.returncode}\n{result.stdout[-20000:]}")
    return result
