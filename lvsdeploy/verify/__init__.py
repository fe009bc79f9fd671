"""The bundled testinfra suite: `lvsdeploy verify INVENTORY` and molecule's verifier both run these files."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SUITE_DIR = Path(__file__).parent


def run_verify(inventory: str, extra: list[str], as_json: bool = False) -> int:
    """pytest's exit status; `as_json`: pytest's report goes to stderr and the suite's summary (conftest.py
    writes it to $LVSDEPLOY_VERIFY_JSON, schema lvsdeploy.verify/1) is the one document on stdout."""
    env = {**os.environ, "LVSDEPLOY_INVENTORY": str(Path(inventory).resolve())}
    cmd = [sys.executable, "-m", "pytest", str(SUITE_DIR), "-p", "no:cacheprovider", "--rootdir", str(SUITE_DIR),
           "-o", "addopts=", "-q", "-rfE", *extra]
    if not as_json:
        return subprocess.call(cmd, env=env)
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "verify.json"
        status = subprocess.call(cmd, env={**env, "LVSDEPLOY_VERIFY_JSON": str(summary)}, stdout=sys.stderr)
        document = json.loads(summary.read_text()) if summary.exists() else {
            "schema": "lvsdeploy.verify/1", "inventory": env["LVSDEPLOY_INVENTORY"], "exit_status": status,
            "summary": {}, "tests": [], "notes": {}}   # pytest stopped before its session finished
        print(json.dumps(document, indent=2), flush=True)
        return status
