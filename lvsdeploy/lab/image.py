"""The lab's Debian bookworm image: built once with debootstrap, cached, booted through qcow2 overlays.

No loop mounts: the root filesystem is written by `mke2fs -d` straight from the debootstrap folder, and the
kernel and initrd are copied out for QEMU's direct kernel boot (no boot loader to install).
"""

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from .errors import LabError
from .paths import images_dir

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
ROOT_LABEL = "lvsroot"
ROOT_SIZE = "3G"
# Everything the roles may need is baked in: the VMs have no package mirror.
PACKAGES = [
    "linux-image-amd64", "initramfs-tools", "systemd-sysv", "udev", "kmod", "procps", "iproute2",
    "iputils-ping", "openssh-server", "sudo", "curl", "python3", "ipvsadm", "iptables", "nftables",
    "conntrack", "nginx-light", "nfs-kernel-server", "nfs-common", "keepalived", "ldirectord",
    # debootstrap does not resolve virtual packages: ldirectord needs perl-openssl-abi-3, provided by this
    "perl-openssl-defaults", "zstd",
    # shared block storage (GFS2/OCFS2): the LIO iSCSI target (targetcli asks D-Bus for its handlers), the
    # initiator, and each filesystem's cluster stack
    "targetcli-fb", "python3-rtslib-fb", "dbus", "open-iscsi", "corosync", "dlm-controld", "gfs2-utils",
    "ocfs2-tools",
]
# Installed but not started at boot: roles enable what a host's role needs; lvslab-init starts nginx on
# real servers. Timers and scrubbers only cost CPU under TCG.
DISABLED_UNITS = [
    "keepalived.service", "ldirectord.service", "nfs-server.service", "nginx.service",
    "e2scrub_reap.service", "apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer",
    "e2scrub_all.timer", "fstrim.timer", "getty@tty1.service",
    "ipvsadm.service",   # Debian's own restore script; lvsdeploy installs its own unit where wanted
    "rtslib-fb-targetctl.service", "open-iscsi.service", "iscsid.socket", "corosync.service", "dlm.service",
    "o2cb.service", "ocfs2.service",
]
# A small initrd boots much faster under TCG: only what a virtio disk with ext4 needs, zstd-compressed.
INITRAMFS_MODULES = ["virtio_pci", "virtio_blk", "virtio_net", "ext4"]
GUEST_DIR = Path(__file__).parent / "guest"
GUEST_FILES = {  # file in lvsdeploy/lab/guest -> (path in the image, mode)
    "lvslab-init": ("usr/local/sbin/lvslab-init", 0o755),
    "lvslab-init.service": ("etc/systemd/system/lvslab-init.service", 0o644),
    "lvslab-udp-whoami": ("usr/local/sbin/lvslab-udp-whoami", 0o755),
    "lvslab-udp-whoami.service": ("etc/systemd/system/lvslab-udp-whoami.service", 0o644),
    "sshd-lab.conf": ("etc/ssh/sshd_config.d/lvslab.conf", 0o644),
    "systemd-lab.conf": ("etc/systemd/system.conf.d/lvslab.conf", 0o644),
    "journald-lab.conf": ("etc/systemd/system/systemd-journald.service.d/lvslab.conf", 0o644),
}
BUILD_VERSION = "1"


@dataclass(frozen=True)
class Image:
    dir: Path

    @property
    def disk(self) -> Path:
        return self.dir / "rootfs.qcow2"

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"


def image_key() -> str:
    """Changes whenever anything that goes into the image changes, so a stale cache is never used."""
    h = hashlib.sha256()
    h.update(f"{BUILD_VERSION}|{SUITE}|{PACKAGES}|{DISABLED_UNITS}|{INITRAMFS_MODULES}".encode())
    for name in sorted(GUEST_FILES):
        h.update(name.encode() + (GUEST_DIR / name).read_bytes())
    return h.hexdigest()[:16]


def cached_image() -> Image | None:
    image = Image(images_dir() / image_key())
    return image if (image.dir / "manifest.json").exists() else None


def ensure_image(console: Console, mirror: str | None = None) -> Image:
    image = cached_image()
    if image:
        return image
    return build_image(console, mirror or os.environ.get("LVSDEPLOY_MIRROR", DEFAULT_MIRROR))


def build_image(console: Console, mirror: str) -> Image:
    key = image_key()
    final = images_dir() / key
    work = images_dir() / f"{key}.build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    root = work / "root"
    log = work / "build.log"
    started = time.monotonic()
    console.print(f"[bold]Building the lab image[/] ({SUITE}, {len(PACKAGES)} packages); log: {log}")
    with console.status("debootstrap") as status:
        _debootstrap(root, mirror, log, status)
        status.update("configuring the guest")
        _configure(root, log)
        status.update("copying kernel and initrd")
        _copy_boot_files(root, work)
        status.update("writing the root filesystem (mke2fs -d)")
        raw = work / "rootfs.raw"
        _run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", ROOT_LABEL, "-d", str(root), str(raw), ROOT_SIZE], log)
        _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "rootfs.qcow2")], log)
        raw.unlink()
        shutil.rmtree(root)
    manifest = {"key": key, "suite": SUITE, "packages": PACKAGES, "mirror": mirror,
                "built_seconds": round(time.monotonic() - started)}
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    _prune_other_images(key)
    console.print(f"Image ready in {manifest['built_seconds']} s: {final}")
    return Image(final)


def _prune_other_images(key: str) -> None:
    """Images with another key are never used again; remove them unless a lab exists (its overlays may
    still be backed by one)."""
    labs = images_dir().parent / "labs"
    if labs.exists() and any(labs.iterdir()):
        return
    for other in images_dir().iterdir():
        if other.name != key and not other.name.endswith(".build"):
            shutil.rmtree(other, ignore_errors=True)


def _debootstrap(root: Path, mirror: str, log: Path, status) -> None:
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), mirror]
    with log.open("a") as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            out.write(line)
            status.update(f"debootstrap: {line.strip()[:90]}")
        if proc.wait() != 0:
            raise LabError(f"debootstrap failed (exit {proc.returncode}); see {log}")


def _configure(root: Path, log: Path) -> None:
    (root / "etc/fstab").write_text(f"LABEL={ROOT_LABEL} / ext4 defaults,errors=remount-ro 0 1\n")
    (root / "etc/hostname").write_text("lvslab\n")
    for name, (dest, mode) in GUEST_FILES.items():
        target = root / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GUEST_DIR / name, target)
        target.chmod(mode)
    # Host keys are handed in per VM at boot (lvslab-init); none is shared through the image.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    conf = root / "etc/initramfs-tools"
    (conf / "conf.d/lvslab.conf").write_text("MODULES=list\nCOMPRESS=zstd\n")
    (conf / "modules").write_text("\n".join(INITRAMFS_MODULES) + "\n")
    _run(["chroot", str(root), "update-initramfs", "-u", "-k", "all"], log)
    _run(["chroot", str(root), "systemctl", "enable", "lvslab-init.service"], log)
    _run(["chroot", str(root), "systemctl", "disable", *DISABLED_UNITS], log)
    _run(["chroot", str(root), "apt-get", "clean"], log)


def _copy_boot_files(root: Path, work: Path) -> None:
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise LabError(f"no kernel/initrd in {root / 'boot'}: did linux-image-amd64 install?")
    shutil.copyfile(kernels[-1], work / "vmlinuz")
    shutil.copyfile(initrds[-1], work / "initrd.img")


def _run(cmd: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
            raise LabError(f"{cmd[0]} failed; see {log}")
