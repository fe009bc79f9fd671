"""Data segments of a lab: one vde_switch per segment, reachable only by the lab's own VMs (a unix socket)."""

import os
import signal
import subprocess
import time
from pathlib import Path

from .errors import LabError


def sock_path(lab_dir: Path, segment: str) -> Path:
    return lab_dir / "switches" / f"{segment}.sock"


def start(lab_dir: Path, segment: str) -> Path:
    sock = sock_path(lab_dir, segment)
    sock.parent.mkdir(parents=True, exist_ok=True)
    pidfile = sock.with_suffix(".pid")
    if _pid(pidfile, sock) is not None:
        return sock
    result = subprocess.run(["vde_switch", "--sock", str(sock), "--daemon", "--pidfile", str(pidfile)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise LabError(f"vde_switch for segment {segment} did not start: {result.stdout.strip()}")
    for _ in range(50):
        if (sock / "ctl").exists():
            return sock
        time.sleep(0.1)
    raise LabError(f"vde_switch for segment {segment} gave no control socket in {sock}")


def stop_all(lab_dir: Path) -> None:
    for pidfile in (lab_dir / "switches").glob("*.pid"):
        pid = _pid(pidfile, pidfile.with_suffix(".sock"))
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if _pid(pidfile, pidfile.with_suffix(".sock")) is None:
                    break
                time.sleep(0.1)


def _pid(pidfile: Path, sock: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(sock).encode() in cmdline else None
