"""Files: the captured format, and a real round trip through sh for awkward names and binary content."""

import os
import subprocess
from pathlib import Path

from lvsdeploy.facts import FileFact
from lvsdeploy.facts.files import files_snippet, parse_files
from lvsdeploy.facts.gather import split_sections

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def test_captured_files():
    files = parse_files(split_sections((FIXTURES / "director.facts").read_text())["files"])
    assert files["/etc/ipvsadm.rules"] == FileFact(exists=False)
    assert files["/etc/modules-load.d"].kind == "directory" and files["/etc/modules-load.d"].content is None
    conf = files["/etc/sysctl.d/90-lvsdeploy.conf"]
    assert (conf.content, conf.mode, conf.owner, conf.group) == (b"net.ipv4.ip_forward = 1\n", "0600", "root", "adm")
    assert files["/var/lib/lvsdeploy/blob"].content == b"\x00\xff\n\x00"
    assert files["/etc/empty file"].content == b""


def test_round_trip_through_sh(tmp_path):
    odd = tmp_path / "name with spaces\nand newline"
    odd.write_bytes(b"\x00binary\xff")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    os.chmod(empty, 0o4750)
    wanted = [str(odd), str(empty), str(tmp_path), str(tmp_path / "missing")]
    out = subprocess.run(["sh", "-c", files_snippet(wanted)], capture_output=True, text=True, check=True)
    files = parse_files(out.stdout)
    assert files[str(odd)].content == b"\x00binary\xff"
    assert files[str(empty)].content == b"" and files[str(empty)].mode == "4750"
    assert files[str(tmp_path)].kind == "directory"
    assert files[str(tmp_path / "missing")].exists is False
