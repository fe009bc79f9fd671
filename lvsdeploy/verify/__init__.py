"""The bundled testinfra suite: `lvsdeploy verify INVENTORY` and molecule's verifier both run these files."""

import os
import subprocess
import sys
from pathlib import Path

SUITE_DIR = Path(__file__).parent


def run_verify(inventory: str, extra: list[str]) -> int:
    env = {**os.environ, "LVSDEPLOY_INVENTORY": str(Path(inventory).resolve())}
    cmd = [sys.executable, "-m", "pytest", str(SUITE_DIR), "-p", "no:cacheprovider", "--rootdir", str(SUITE_DIR),
           "-o", "addopts=", "-q", "-rfE", *extra]
    return subprocess.call(cmd, env=env)
