"""Real hosts, on the DR lab, after the first apply converged: the paths users take that the lab's own inventory
does not (it logs in as root with a key file), IPVS services that are not lvsdeploy's, and applies that are
killed or run twice at once. Plain functions; tests/lab/flow.py calls each from a test of its own.
"""

import contextlib
import os
import re
import subprocess
from pathlib import Path

import yaml

from lvsdeploy.lab import control
from lvsdeploy.verify.checks import wait_until

from .lab import address as lab_address, cli, cli_argv, cli_env, edited_inventory, ssh

USER = "deploy"          # a non-root login with passwordless sudo, its key only in an ssh-agent
PASSWORD_USER = "asker"  # a non-root login whose sudo asks for a password
ALIAS = "lab-rs1"        # rs1 is reached through this Host alias of the ssh_config file
JUMPED = "rs2"           # reached through the client VM, its jump host (bastion)
BASTION = "client"


def _create_user(lab: str, host: str, name: str, nopasswd: bool) -> None:
    rule = f"{name} ALL=(root) NOPASSWD: ALL" if nopasswd else f"{name} ALL=(root) ALL"
    ssh(lab, host, f"id {name} >/dev/null 2>&1 || useradd -m -s /bin/sh {name}; "
                   f"install -d -m 0700 -o {name} -g {name} /home/{name}/.ssh; "
                   f"install -m 0600 -o {name} -g {name} /root/.ssh/authorized_keys /home/{name}/.ssh/; "
                   f"echo '{rule}' > /etc/sudoers.d/{name}; chmod 0440 /etc/sudoers.d/{name}")


@contextlib.contextmanager
def ssh_agent(key: Path):
    """An ssh-agent holding `key`; yields the environment that points at it."""
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(re.findall(r"(SSH_AUTH_SOCK|SSH_AGENT_PID)=([^;]+);", out))
    try:
        subprocess.run(["ssh-add", str(key)], env={**os.environ, **env}, capture_output=True, check=True)
        yield env
    finally:
        subprocess.run(["ssh-agent", "-k"], env={**os.environ, **env}, capture_output=True)


def _ssh_config(lab_state, user_of: dict[str, str]) -> str:
    """Host blocks as a user keeps them: aliases, HostName, Port, User; rs2 via ProxyJump through the client."""
    blocks = []
    for name, port in sorted(lab_state.ports.items()):
        alias = ALIAS if name == "rs1" else name
        if name == JUMPED:
            address = lab_address(lab_state, name)
            blocks.append(f"Host {alias}\n  HostName {address}\n  User {user_of.get(name, USER)}\n"
                          f"  ProxyJump {BASTION}")
        else:
            blocks.append(f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {user_of.get(name, USER)}")
    return "\n\n".join(blocks) + "\n"


def _known_hosts(lab_state, with_bastion: bool = True) -> str:
    """The lab's known_hosts, plus rs2's key under the address the bastion reaches it at."""
    lines = (lab_state.dir / "known_hosts").read_text().splitlines()
    by_port = {int(re.match(r"\[127\.0\.0\.1\]:(\d+) ", line).group(1)): line for line in lines}
    rs2_key = by_port[lab_state.ports[JUMPED]].split(" ", 1)[1]
    address = lab_address(lab_state, JUMPED)
    kept = [line for port, line in by_port.items() if with_bastion or port != lab_state.ports[BASTION]]
    return "\n".join(kept + [f"{address} {rs2_key}"]) + "\n"


def real_user_inventory(lab_state, inventory: Path, tmp_path: Path, user_of: dict[str, str] | None = None,
                        with_bastion_key: bool = True, become: bool = True) -> Path:
    """The lab's inventory as a user on real hosts writes it: no address, port, user or key file in it;
    an ssh_config file (-F) names the hosts; sudo for root."""
    folder = tmp_path / f"user-{len(list(tmp_path.glob('user-*')))}"
    folder.mkdir()
    (folder / "ssh_config").write_text(_ssh_config(lab_state, user_of or {}))
    (folder / "known_hosts").write_text(_known_hosts(lab_state, with_bastion_key))

    def as_user(data):
        top = data["all"]["vars"]
        for key in ("ansible_user", "ansible_ssh_private_key_file"):
            top.pop(key, None)
        top.update(ansible_ssh_common_args=f"-F {folder / 'ssh_config'}", ansible_become=become,
                   lvs_known_hosts_file=str(folder / "known_hosts"))
        for group in data["all"]["children"].values():
            for name, host_vars in (group.get("hosts") or {}).items():
                host_vars.pop("ansible_host", None)
                host_vars.pop("ansible_port", None)
                if name == "rs1":
                    host_vars["ansible_host"] = ALIAS
    return edited_inventory(inventory, folder / "inventory.yml", as_user)


def applies_as_a_real_user(lab_state, inventory: Path, tmp_path: Path) -> None:
    """A non-root user with passwordless sudo, the key only in an agent, an ssh_config alias and a jump host
    with host keys checked on both hops: plan sees the converged lab, apply changes a weight and puts it
    back, verify passes through the same paths."""
    lab = lab_state.name
    for name in lab_state.ports:
        _create_user(lab, name, USER, nopasswd=True)
    user_inventory = real_user_inventory(lab_state, inventory, tmp_path)
    assert "private_key" not in user_inventory.read_text() and "ansible_port" not in user_inventory.read_text()
    with ssh_agent(lab_state.dir / "id_ed25519") as agent:
        plan = cli("plan", "-v", str(user_inventory), env=agent)
        assert plan.returncode == 0 and "Plan: 0 changes on 0 of 4 hosts" in plan.stdout

        def heavier(data):
            data["all"]["vars"]["lvs_virtual_services"][0]["realservers"][1]["weight"] = 2
        changed = edited_inventory(user_inventory, user_inventory.with_name("weights.yml"), heavier)
        assert cli("apply", "--yes", str(changed), env=agent).returncode == 0
        assert cli("apply", "--yes", str(user_inventory), env=agent).returncode == 0
        assert cli("plan", str(user_inventory), env=agent).returncode == 0
        assert cli("verify", str(user_inventory), env=agent).returncode == 0
    # without the agent there is no key at all: refused, nothing changed
    no_key = cli("plan", str(user_inventory), env={"SSH_AUTH_SOCK": str(tmp_path / "no-agent")})
    assert no_key.returncode == 1 and "Planning failed; nothing was changed." in no_key.stdout


def refuses_what_it_cannot_trust_or_do(lab_state, inventory: Path, tmp_path: Path) -> None:
    """A jump host whose key is not known; a login that is not root without become; sudo that asks for a
    password: each fails in the facts round trip, naming why, before any host changes."""
    lab = lab_state.name
    _create_user(lab, "director1", PASSWORD_USER, nopasswd=False)
    known_before = (lab_state.dir / "known_hosts").read_text()
    with ssh_agent(lab_state.dir / "id_ed25519") as agent:
        unknown_jump = real_user_inventory(lab_state, inventory, tmp_path, with_bastion_key=False)
        result = cli("plan", "--limit", JUMPED, str(unknown_jump), env=agent)
        assert result.returncode == 1 and f"{JUMPED}:" in result.stdout and "not found in known_hosts" in result.stdout
        unknown_folder = Path(yaml.safe_load(unknown_jump.read_text())["all"]["vars"]["lvs_known_hosts_file"])
        assert f":{lab_state.ports[BASTION]}]" not in unknown_folder.read_text(), "nothing is added to known_hosts"
        assert (lab_state.dir / "known_hosts").read_text() == known_before

        no_become = real_user_inventory(lab_state, inventory, tmp_path, become=False)
        result = cli("plan", "--limit", "director1", str(no_become), env=agent)
        assert result.returncode == 1 and f"logged in as {USER}, not root; set ansible_become" in result.stdout

        asks = real_user_inventory(lab_state, inventory, tmp_path, user_of={"director1": PASSWORD_USER})
        result = cli("plan", "--limit", "director1", str(asks), env=agent)
        assert result.returncode == 1 and f"sudo asks {PASSWORD_USER} for a password" in result.stdout


# ---- IPVS services that are not lvsdeploy's ---------------------------------------------------------------

FOREIGN = ("ipvsadm -A -t 10.20.0.99:8080 -s rr && ipvsadm -a -t 10.20.0.99:8080 -r 10.20.0.11:8080 -g -w 1 && "
           "ipvsadm -A -f 77 -s wlc")


def _foreign_lines(lab: str) -> list[str]:
    table = ssh(lab, "director1", "ipvsadm -Sn").stdout.splitlines()
    return [line for line in table if "10.20.0.99:8080" in line or "-f 77" in line]


def foreign_ipvs_services_are_left_alone(lab_state, inventory: Path, tmp_path: Path) -> None:
    """Services made by hand (one with a fwmark) survive an apply unchanged; plan names them as not managed; a
    service of the inventory on the same VIP:port is refused."""
    lab = lab_state.name
    ssh(lab, "director1", FOREIGN)
    try:
        before = _foreign_lines(lab)
        assert len(before) == 3, before
        plan = cli("plan", str(inventory))
        assert plan.returncode == 0, "foreign services are not changes"
        assert "ipvs TCP 10.20.0.99:8080: not managed by lvsdeploy, left alone" in plan.stdout
        assert "ipvs FWM 77: not managed by lvsdeploy, left alone" in plan.stdout

        def heavier(data):
            data["all"]["vars"]["lvs_virtual_services"][0]["realservers"][1]["weight"] = 2
        changed = edited_inventory(inventory, tmp_path / "weights.yml", heavier)
        assert cli("apply", "--yes", str(changed)).returncode == 0
        assert _foreign_lines(lab) == before, "an apply must not touch services it did not create"
        assert cli("apply", "--yes", str(inventory)).returncode == 0
        assert _foreign_lines(lab) == before

        def colliding(data):
            services = data["all"]["vars"]["lvs_virtual_services"]
            services.append({**services[0], "name": "clash", "vip": "10.20.0.99", "port": 8080})
        clash = cli("plan", str(edited_inventory(inventory, tmp_path / "clash.yml", colliding)))
        assert clash.returncode == 1
        assert "TCP 10.20.0.99:8080 already exists on the host and lvsdeploy did not create it" in clash.stdout
    finally:
        ssh(lab, "director1", "ipvsadm -D -t 10.20.0.99:8080; ipvsadm -D -f 77", check=False)
    assert cli("plan", str(inventory)).returncode == 0


# ---- applies that are killed, or run twice at once -----------------------------------------------------

HOLD_LOCK = ("mkdir -p /run/lvsdeploy && echo 'the lab test, by hand' > /run/lvsdeploy/holder && "
             "exec flock /run/lvsdeploy/lock sh -c 'echo locked; read line'")


@contextlib.contextmanager
def lock_held_by_hand(lab: str, host: str):
    """The host's apply lock, held by a shell of this test until the block ends (its stdin closes)."""
    holder = subprocess.Popen(control.ssh_argv(lab, host, [HOLD_LOCK]), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked", "could not take the lock by hand"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def _wait_for(probe, timeout: float) -> bool:
    return bool(wait_until(probe, timeout, interval=0.5))


def _weighted(inventory: Path, dest: Path, weight: int) -> Path:
    def edit(data):
        data["all"]["vars"]["lvs_virtual_services"][0]["realservers"][1]["weight"] = weight
    return edited_inventory(inventory, dest, edit)


def killed_apply_still_finishes(lab_state, inventory: Path, tmp_path: Path) -> None:
    """With the director's lock held by hand: a second apply waits, then fails naming the holder. Then an
    apply is SIGKILLed while its director script waits for the lock: the script still runs to the end on
    the director once the lock is free, and the next plan shows nothing left to do."""
    lab, rip = lab_state.name, lab_address(lab_state, "rs2")
    changed = _weighted(inventory, tmp_path / "weights.yml", 3)
    with lock_held_by_hand(lab, "director1"):
        locked = cli("apply", "--yes", "--lock-wait", "2", str(changed))
        assert locked.returncode == 1
        assert "another apply holds this host: the lab test, by hand" in locked.stdout

        doomed = subprocess.Popen(cli_argv("apply", "--yes", str(changed)), env=cli_env(), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            started = _wait_for(lambda: ssh(lab, "director1", "ls /run/lvsdeploy/apply.* 2>/dev/null",
                                            check=False).stdout.strip() != "", 120)
            assert started, "the director's apply script never started"
        finally:
            doomed.kill()     # SIGKILL, while the director's script waits for the lock
            doomed.wait()
        assert f"-r {rip}:80 -g -w 3" not in ssh(lab, "director1", "ipvsadm -Sn").stdout, \
            "nothing may run while another holds the lock"
    weight_3 = f"-r {rip}:80 -g -w 3"
    assert _wait_for(lambda: weight_3 in ssh(lab, "director1", "ipvsadm -Sn").stdout, 90), \
        "the apply script must finish on the director after lvsdeploy was killed"
    rules = ssh(lab, "director1", "ipvsadm -Sn").stdout.splitlines()
    services = [line.split()[1:3] for line in rules if line.startswith("-A")]
    for service in services:
        assert any(line.startswith("-a") and line.split()[1:3] == service for line in rules), \
            f"service {service} has no real server"
    assert _wait_for(lambda: cli("plan", str(changed)).returncode == 0, 60), "the killed apply left work undone"
    assert cli("apply", "--yes", str(inventory)).returncode == 0


def concurrent_applies_end_as_the_inventory_says(lab_state, inventory: Path, tmp_path: Path) -> None:
    """Two applies started at once: each succeeds, or fails saying the host changed since its plan (the other
    one changed it) or who holds the lock; never both fail, and the hosts end as the inventory says."""
    changed = _weighted(inventory, tmp_path / "weights.yml", 2)
    runs = [subprocess.Popen(cli_argv("apply", "--yes", str(changed)), env=cli_env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    results = [(run.wait(timeout=900), run.stdout.read()) for run in runs]
    for status, output in results:
        print(f"concurrent apply -> exit {status}\n{output}")
        assert status == 0 or (status == 1 and ("changed since the plan was made" in output
                                                or "another apply holds this host" in output)), output
    assert any(status == 0 for status, _ in results)
    assert cli("plan", str(changed)).returncode == 0
    assert cli("apply", "--yes", str(inventory)).returncode == 0
    assert cli("plan", str(inventory)).returncode == 0
