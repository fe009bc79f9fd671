"""SSH into lab VMs with the lab's own key and known_hosts (host keys were made by the lab: no blind trust)."""

import subprocess
from pathlib import Path


def base_args(lab_dir: Path, port: int, timeout: int = 5) -> list[str]:
    return [
        "ssh", "-p", str(port), "-i", str(lab_dir / "id_ed25519"),
        "-o", f"UserKnownHostsFile={lab_dir / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", f"ConnectTimeout={timeout}",
        "-o", "LogLevel=ERROR", "root@127.0.0.1",
    ]


def run(lab_dir: Path, port: int, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    # stdin from /dev/null: ssh makes its stdin non-blocking, and one killed at its timeout (a guest going down
    # under `systemctl reboot`) would leave ours so, which Ansible (molecule) then refuses to start with
    return subprocess.run(base_args(lab_dir, port) + ["--", command], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def reachable(lab_dir: Path, port: int) -> str | None:
    """The VM's boot id when SSH works, else None."""
    try:
        result = run(lab_dir, port, "cat /proc/sys/kernel/random/boot_id", timeout=15)
    except subprocess.TimeoutExpired:
        return None
    return result.stdout.strip() if result.returncode == 0 else None
