"""One QEMU virtual machine of a lab: its files, its command line, its process."""

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import LabError
from .image import ROOT_LABEL, Image

MGMT_ADDRESS = "10.0.2.15/24"   # slirp's guest address; no default route is ever set on it
# Under TCG every emulated instruction counts: no speculative-execution mitigations (these are throwaway lab
# VMs), no KASLR, and a quiet console.
# The lab's guests have no floppy, parallel port or PC speaker worth probing: under TCG that probing holds up
# udev's coldplug, and with it the NICs the boot waits for.
KERNEL_ARGS = ("console=ttyS0 quiet panic=10 mitigations=off nokaslr tsc=reliable no_timer_check "
               "modprobe.blacklist=floppy,parport_pc,pcspkr")


@dataclass
class VmRuntime:
    name: str
    index: int            # position in the lab, used for MACs
    dir: Path
    ssh_port: int

    @property
    def pidfile(self) -> Path:
        return self.dir / "qemu.pid"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def overlay(self) -> Path:
        return self.dir / "disk.qcow2"

    def disk(self, serial: str) -> Path:
        return self.dir / f"{serial}.qcow2"

    def mac(self, nic: int) -> str:
        return f"52:54:00:4c:{self.index:02x}:{nic:02x}"

    def pid(self) -> int | None:
        """The QEMU pid, only if that process is really this VM's QEMU (pidfiles can be stale)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if str(self.dir).encode() in cmdline else None


def write_guest_config(vm: VmRuntime, spec, authorized_key: str) -> list[str]:
    """Files handed to the guest through fw_cfg; returns the QEMU arguments that pass them."""
    nics = [f"{vm.mac(0)}={MGMT_ADDRESS}"] + [f"{vm.mac(i + 1)}={addr}" for i, (_, addr) in enumerate(spec.nics)]
    config = (
        f"LAB_HOSTNAME={spec.name}\n"
        f"LAB_NICS='{' '.join(nics)}'\n"
        f"LAB_ROUTES='{' '.join(r.replace(' ', ',') for r in spec.routes)}'\n"
        f"LAB_FORWARD={int(spec.forward)}\n"
        f"LAB_HTTP={int(spec.http)}\n"
    )
    (vm.dir / "config.sh").write_text(config)
    (vm.dir / "authorized_keys").write_text(authorized_key)
    args = []
    for name, path in [("config", "config.sh"), ("hostkey", "ssh_host_ed25519_key"),
                       ("hostkey_pub", "ssh_host_ed25519_key.pub"), ("authorized_keys", "authorized_keys")]:
        args += ["-fw_cfg", f"name=opt/lvslab/{name},file={vm.dir / path}"]
    return args


def make_host_key(vm: VmRuntime) -> tuple[str, str]:
    """The VM's SSH host key, made here on first use: (key type, base64 key) for known_hosts."""
    key = vm.dir / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lvslab-{vm.name}", "-f", str(key)],
                       check=True)
    keytype, keydata = (vm.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
    return keytype, keydata


def qemu_command(vm: VmRuntime, spec, image: Image, accel: str, memory_mb: int,
                 switch_socks: dict[str, Path], fw_cfg_args: list[str]) -> list[str]:
    cmd = [
        "qemu-system-x86_64", "-name", f"lvslab-{vm.name}",
        # no default VGA, CD-ROM, floppy drive or parallel port: devices the guest would only spend boot time on
        "-nodefaults",
        # TCG keeps 1 GiB of translated code per VM by default; 256 MiB is plenty for these guests.
        "-accel", "tcg,tb-size=256" if accel == "tcg" else accel,
        "-cpu", "max" if accel == "tcg" else "host",
        "-m", str(memory_mb), "-smp", "1",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd),
        "-append", f"root=LABEL={ROOT_LABEL} ro {KERNEL_ARGS}",
        "-drive", f"file={vm.overlay},if=virtio,format=qcow2",
        "-device", "virtio-rng-pci",   # sshd needs entropy at boot; TCG guests have little
        "-netdev", f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{vm.ssh_port}-:22",
        "-device", f"virtio-net-pci,netdev=mgmt,mac={vm.mac(0)},romfile=",   # no PXE ROM: direct kernel boot
    ]
    for i, (serial, _) in enumerate(spec.disks):
        # a serial names the disk in the guest (/dev/disk/by-id/virtio-SERIAL), whatever its vdX letter
        cmd += ["-drive", f"file={vm.disk(serial)},if=none,id=data{i},format=qcow2",
                "-device", f"virtio-blk-pci,drive=data{i},serial={serial}"]
    for i, (segment, _) in enumerate(spec.nics):
        cmd += ["-netdev", f"vde,id=net{i + 1},sock={switch_socks[segment]}",
                "-device", f"virtio-net-pci,netdev=net{i + 1},mac={vm.mac(i + 1)},romfile="]
    cmd += fw_cfg_args
    cmd += ["-display", "none", "-serial", f"file:{vm.console_log}",
            "-monitor", f"unix:{vm.dir / 'monitor.sock'},server,nowait",
            "-daemonize", "-pidfile", str(vm.pidfile)]
    return cmd


def start(vm: VmRuntime, cmd: list[str], image: Image, disks: list[tuple[str, str]] = ()) -> None:
    if not vm.overlay.exists():
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image.disk), "-F", "qcow2",
                        str(vm.overlay)], check=True)
    for serial, size in disks:
        if not vm.disk(serial).exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(vm.disk(serial)), size], check=True)
    (vm.dir / "qemu.cmd").write_text(" ".join(cmd) + "\n")
    (vm.dir / "qemu.json").write_text(json.dumps(cmd) + "\n")
    _run_qemu(vm, cmd)


def _run_qemu(vm: VmRuntime, cmd: list[str]) -> None:
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise LabError(f"QEMU for {vm.name} did not start: {result.stdout.strip()}")


def start_again(vm: VmRuntime) -> None:
    """Boot a stopped VM with the command it was first started with (same disk, NICs, fw_cfg)."""
    if vm.pid() is not None:
        raise LabError(f"VM {vm.name} is already running (pid {vm.pid()})")
    _run_qemu(vm, json.loads((vm.dir / "qemu.json").read_text()))


def power_off(vm: VmRuntime) -> None:
    """Pull the plug: QEMU is killed (SIGKILL), the guest gets no shutdown at all."""
    pid = vm.pid()
    if pid is None:
        raise LabError(f"VM {vm.name} is not running")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and vm.pid() is not None:
        time.sleep(0.05)


def stop(vm: VmRuntime, timeout: float = 10) -> None:
    pid = vm.pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and vm.pid() is not None:
        time.sleep(0.1)
    if vm.pid() is not None:
        os.kill(pid, signal.SIGKILL)
