"""Host programs the lab needs, checked before anything starts."""

import shutil

from .errors import LabError

# program -> Debian package that provides it
REQUIRED = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "debootstrap": "debootstrap",
    "vde_switch": "vde2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "mke2fs": "e2fsprogs",
}


def check() -> None:
    missing = sorted({pkg for prog, pkg in REQUIRED.items() if shutil.which(prog) is None})
    if missing:
        raise LabError(
            "the lab needs programs that are not installed; on Debian/Ubuntu run:\n"
            f"  apt-get install -y {' '.join(missing)}"
        )
