"""Pick KVM only when it really runs a guest; on this kind of machine /dev/kvm exists but a guest hangs."""

import os
import subprocess
import tempfile
from pathlib import Path

from .image import Image

PROBE_SECONDS = 20


def choose(image: Image) -> str:
    forced = os.environ.get("LVSDEPLOY_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    return "kvm" if kvm_works(image) else "tcg"


def kvm_works(image: Image) -> bool:
    """Boot the lab kernel with no root under KVM: a working KVM reaches the kernel's panic in seconds."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "console.log"
        cmd = ["qemu-system-x86_64", "-accel", "kvm", "-m", "256", "-display", "none", "-no-reboot",
               "-kernel", str(image.kernel), "-append", "console=ttyS0 panic=-1 root=/dev/nonexistent",
               "-serial", f"file:{log}"]
        try:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=PROBE_SECONDS)
        except subprocess.TimeoutExpired:
            return False
        return "Kernel panic" in log.read_text(errors="replace") if log.exists() else False
