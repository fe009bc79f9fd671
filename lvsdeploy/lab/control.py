"""`lvsdeploy lab up | down | status | ssh | reboot | inventory`: a named lab of QEMU VMs on vde segments."""

import json
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from . import accel, image, prereqs, ssh, switch, topology, vm
from .errors import LabError
from .inventory import failover_inventory_path, write_inventory
from .paths import lab_dir

BOOT_TIMEOUT = {"kvm": 180, "tcg": 600}


@dataclass
class LabState:
    name: str
    dir: Path
    mode: str
    accel: str
    realservers: int
    storage: bool
    ports: dict[str, int]
    directors: int = 1

    @property
    def topology(self) -> topology.Topology:
        return topology.build(self.mode, self.realservers, self.storage, self.directors)

    def runtimes(self) -> list[vm.VmRuntime]:
        return [vm.VmRuntime(spec.name, i + 1, self.dir / "vms" / spec.name, self.ports[spec.name])
                for i, spec in enumerate(self.topology.vms)]

    def runtime(self, host: str) -> vm.VmRuntime:
        for rt in self.runtimes():
            if rt.name == host:
                return rt
        raise LabError(f"lab {self.name} has no VM {host!r}; it has {', '.join(self.ports)}")

    def save(self) -> None:
        data = {k: getattr(self, k) for k in ("name", "mode", "accel", "realservers", "storage", "ports", "directors")}
        (self.dir / "state.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, name: str) -> "LabState | None":
        path = lab_dir(name) / "state.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(dir=lab_dir(name), **data)


def require(name: str) -> LabState:
    state = LabState.load(name)
    if state is None:
        raise LabError(f"no lab named {name!r} is up; start it with: lvsdeploy lab up --name {name}")
    return state


def up(console: Console, mode: str, name: str = "lab", realservers: int = 2, storage: bool = True,
       memory_mb: int = 512, mirror: str | None = None, directors: int = 1) -> LabState:
    prereqs.check()
    existing = LabState.load(name)
    if existing:
        down_vms = [rt.name for rt in existing.runtimes() if rt.pid() is None]
        if not down_vms:
            console.print(f"Lab {name} ({existing.mode}) is already up; nothing to do.")
            return existing
        raise LabError(f"lab {name} exists but {', '.join(down_vms)} not running; "
                       f"run `lvsdeploy lab down --name {name}` first")
    try:
        topo = topology.build(mode, realservers, storage, directors)
    except ValueError as exc:
        raise LabError(str(exc)) from None
    img = image.ensure_image(console, mirror)
    chosen = accel.choose(img)
    directory = lab_dir(name)
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "vms").mkdir(parents=True)
    ports = dict(zip([v.name for v in topo.vms], _free_ports(len(topo.vms))))
    state = LabState(name, directory, mode, chosen, realservers, storage, ports, directors)
    state.save()
    started = time.monotonic()
    try:
        _start_all(console, state, img, memory_mb)
        _wait_all(console, state, BOOT_TIMEOUT[chosen])
    except BaseException:
        down(console, name, quiet=True)
        raise
    path = write_inventory(state.dir, state.topology, state.ports)
    console.print(f"Lab [bold]{name}[/] ({mode}, {chosen}) is up in {time.monotonic() - started:.0f} s; "
                  f"inventory: {path}")
    if directors > 1:
        console.print(f"Both directors, failing over: {failover_inventory_path(state.dir)}")
    return state


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _start_all(console: Console, state: LabState, img: image.Image, memory_mb: int) -> None:
    topo = state.topology
    socks = {segment: switch.start(state.dir, segment) for segment in topo.segments}
    key = state.dir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lvslab-{state.name}", "-f", str(key)],
                   check=True)
    authorized = (state.dir / "id_ed25519.pub").read_text()
    known_hosts = []
    for rt, spec in zip(state.runtimes(), topo.vms):
        rt.dir.mkdir(parents=True, exist_ok=True)
        keytype, keydata = vm.make_host_key(rt)
        known_hosts.append(f"[127.0.0.1]:{rt.ssh_port} {keytype} {keydata}\n")
        fw_cfg = vm.write_guest_config(rt, spec, authorized)
        vm.start(rt, vm.qemu_command(rt, spec, img, state.accel, memory_mb, socks, fw_cfg), img, spec.disks)
    (state.dir / "known_hosts").write_text("".join(known_hosts))
    console.print(f"Started {len(topo.vms)} VMs ({state.accel}): {', '.join(v.name for v in topo.vms)}")


def _wait_all(console: Console, state: LabState, timeout: float) -> None:
    runtimes = state.runtimes()
    with console.status("waiting for SSH on every VM") as status, ThreadPoolExecutor(len(runtimes)) as pool:
        pending = {rt.name for rt in runtimes}

        def wait(rt: vm.VmRuntime) -> None:
            _wait_ssh(state, rt, timeout)
            pending.discard(rt.name)
            status.update(f"waiting for SSH: {', '.join(sorted(pending)) or 'done'}")

        for future in [pool.submit(wait, rt) for rt in runtimes]:
            future.result()


def _wait_ssh(state: LabState, rt: vm.VmRuntime, timeout: float, not_boot_id: str | None = None) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rt.pid() is None:
            raise LabError(f"VM {rt.name} of lab {state.name} stopped while booting; console log: {rt.console_log}")
        boot_id = ssh.reachable(state.dir, rt.ssh_port)
        if boot_id and boot_id != not_boot_id:
            return boot_id
        time.sleep(2)
    raise LabError(f"VM {rt.name} of lab {state.name} did not answer SSH within {timeout:.0f} s"
                   f"{_console_tail(rt)}")


def _wait_gone(state: LabState, rt: vm.VmRuntime, boot_id: str | None, timeout: float = 600) -> bool:
    """Until the VM no longer answers with `boot_id` (it is shutting down or already booting again); whether it
    stopped answering within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ssh.reachable(state.dir, rt.ssh_port) != boot_id:
            return True
        time.sleep(2)
    return False


def down(console: Console, name: str = "lab", quiet: bool = False) -> None:
    directory = lab_dir(name)
    if not directory.exists():
        if not quiet:
            console.print(f"Lab {name} is not up; nothing to do.")
        return
    state = LabState.load(name)
    if state:
        for rt in state.runtimes():
            vm.stop(rt)
    switch.stop_all(directory)
    shutil.rmtree(directory)
    if not quiet:
        console.print(f"Lab {name} is down; its VMs, overlays and sockets are gone.")


def status(name: str = "lab") -> list[dict]:
    state = require(name)
    rows = []
    with ThreadPoolExecutor(8) as pool:
        rts = state.runtimes()
        reach = list(pool.map(lambda rt: rt.pid() is not None and ssh.reachable(state.dir, rt.ssh_port), rts))
    for rt, spec, ok in zip(rts, state.topology.vms, reach):
        rows.append({"vm": rt.name, "group": spec.group, "ssh": f"127.0.0.1:{rt.ssh_port}",
                     "pid": rt.pid(), "state": "up" if ok else ("booting" if rt.pid() else "down"),
                     "addresses": " ".join(a for _, a in spec.nics)})
    return rows


def ssh_argv(name: str, host: str, command: list[str]) -> list[str]:
    state = require(name)
    rt = state.runtime(host)
    return ssh.base_args(state.dir, rt.ssh_port) + (["--", *command] if command else [])


def reboot(console: Console, name: str = "lab", hosts: list[str] | None = None) -> None:
    """Reboot from inside the guests, then wait until each answers with a new boot id.

    Storage nodes go last, once the others have shut down: a real server unmounting NFS from a server
    that is already gone waits minutes for the NFS timeouts.
    """
    state = require(name)
    targets = [state.runtime(h) for h in hosts] if hosts else state.runtimes()
    boot_ids = {rt.name: ssh.reachable(state.dir, rt.ssh_port) for rt in targets}
    storage = {spec.name for spec in state.topology.vms if spec.group == "storage"}
    first = [rt for rt in targets if rt.name not in storage]
    last = [rt for rt in targets if rt.name in storage]
    for group in (first, last):
        if group:
            with ThreadPoolExecutor(len(group)) as pool:
                list(pool.map(lambda rt: _reboot_one(state, rt, boot_ids[rt.name]), group))
    with ThreadPoolExecutor(len(targets)) as pool:
        list(pool.map(lambda rt: _wait_ssh(state, rt, BOOT_TIMEOUT[state.accel], boot_ids[rt.name]), targets))
    console.print(f"Rebooted {', '.join(rt.name for rt in targets)}")


def _reboot_one(state: LabState, rt: vm.VmRuntime, boot_id: str | None, tries: int = 3) -> None:
    """`systemctl reboot` in the guest until it stops answering with `boot_id`. Asked again when it still answers
    after a while: the answer of a guest starved of CPU (the others booting) can come too late to trust."""
    for _ in range(tries):
        try:
            sent = ssh.run(state.dir, rt.ssh_port, "systemctl reboot", timeout=60)
            said = f"exit {sent.returncode} {sent.stderr.strip()}".strip()
        except subprocess.TimeoutExpired:
            said = "no answer within 60 s"
        if _wait_gone(state, rt, boot_id, timeout=180):
            return
    raise LabError(f"VM {rt.name} of lab {state.name} still runs its old boot {tries * 4} minutes after "
                   f"`systemctl reboot` (last: {said}){_console_tail(rt)}")


def _console_tail(rt: vm.VmRuntime, lines: int = 15) -> str:
    """The end of a VM's serial console, for an error message that shows where a boot or shutdown stuck."""
    try:
        tail = rt.console_log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"; console log: {rt.console_log} (unreadable)"
    return f"; console log {rt.console_log} ends:\n" + "\n".join(f"    {line}" for line in tail)


def poweroff(console: Console, name: str, host: str) -> None:
    """Pull a VM's plug (its QEMU process is killed, no shutdown): a director lost as a power cut loses it."""
    state = require(name)
    vm.power_off(state.runtime(host))
    console.print(f"Powered off {host} (QEMU killed)")


def start(console: Console, name: str, host: str) -> float:
    """Boot a powered-off VM again and wait for SSH; returns the seconds it took."""
    state = require(name)
    rt = state.runtime(host)
    started = time.monotonic()
    vm.start_again(rt)
    _wait_ssh(state, rt, BOOT_TIMEOUT[state.accel])
    seconds = time.monotonic() - started
    console.print(f"Started {host}; SSH answers after {seconds:.0f} s")
    return seconds


def inventory_path(name: str = "lab") -> Path:
    state = require(name)
    return state.dir / "inventory.yml"
