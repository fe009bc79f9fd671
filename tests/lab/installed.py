"""lvsdeploy as users get it: a wheel built from the checkout, installed in a fresh virtualenv in a folder
outside the checkout, run from there. Proves the roles and templates ship inside the package."""

import os
import subprocess
import sys
from pathlib import Path

from .lab import PROJECT_DIR


def _run(argv: list, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=timeout, env={"PATH": "/usr/local/bin:/usr/bin:/bin", "COLUMNS": "200",
                                 "HOME": os.environ.get("HOME", "/root")})
    print(f"$ {' '.join(map(str, argv))}  -> exit {result.returncode}\n{result.stdout[-5000:]}")
    return result


def install_wheel(root: Path) -> Path:
    """Build the wheel, install it with its dependencies into root/venv; return the venv's `lvsdeploy`."""
    wheels = root / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, PROJECT_DIR], root)
    assert built.returncode == 0, "building the wheel failed"
    (wheel,) = wheels.glob("lvsdeploy-*.whl")
    assert _run([sys.executable, "-m", "venv", root / "venv"], root).returncode == 0
    assert _run([root / "venv/bin/python", "-m", "pip", "install", "-q", wheel], root).returncode == 0
    where = _run([root / "venv/bin/python", "-c", "import lvsdeploy, os; print(os.path.dirname(lvsdeploy.__file__))"],
                 root).stdout.strip()
    assert not Path(where).resolve().is_relative_to(PROJECT_DIR), f"lvsdeploy imported from the checkout: {where}"
    return root / "venv/bin/lvsdeploy"


def run_installed(lvsdeploy: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`lvsdeploy ARGS` of the installed wheel, run from a folder outside the checkout."""
    return _run([lvsdeploy, *args], cwd, timeout=1800)
