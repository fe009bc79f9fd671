"""file: unified diffs, atomic base64 writes, metadata-only fixes; applied for real in a temp dir."""

import grp
import os
import pwd
import subprocess

import pytest

from lvsdeploy.facts import FileFact, HostFacts
from lvsdeploy.facts.files import files_snippet, parse_files
from lvsdeploy.modules import file
from lvsdeploy.modules.base import ModuleError

PATH = "/etc/sysctl.d/90-lvsdeploy.conf"
ME, MY_GROUP = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def facts_with(fact):
    return HostFacts(files={PATH: fact})


def test_new_file_diff_and_atomic_write():
    (change,) = file.plan({"path": PATH, "content": "net.ipv4.ip_forward = 1\n"}, facts_with(FileFact(False)))
    assert change.resource == f"file {PATH}"
    assert change.diff == (f"--- {PATH}", f"+++ {PATH}", "@@ -0,0 +1 @@", "+net.ipv4.ip_forward = 1")
    assert change.commands[0] == "mkdir -p -- /etc/sysctl.d"
    assert change.commands[1] == "lvs_tmp=$(mktemp /etc/sysctl.d/.lvsdeploy.XXXXXX)"
    assert change.commands[-1] == f'mv -f -- "$lvs_tmp" {PATH}'


def test_changed_content_shows_a_unified_diff_and_metadata():
    old = FileFact(True, b"a\nb\n", "0600", "root", "adm", "file")
    (change,) = file.plan({"path": PATH, "content": "a\nc\n"}, facts_with(old))
    assert "-b" in change.diff and "+c" in change.diff
    assert change.diff[-2:] == ("~ mode 0600 -> 0644", "~ group adm -> root")


def test_only_metadata_differs():
    old = FileFact(True, b"x\n", "0600", "root", "root", "file")
    (change,) = file.plan({"path": PATH, "content": "x\n", "mode": 0o644}, facts_with(old))
    assert change.diff == ("~ mode 0600 -> 0644",)
    assert change.commands == (f"chmod 0644 {PATH}",)


def test_binary_content_is_summarised_not_diffed():
    (change,) = file.plan({"path": PATH, "content": b"\x00\xff"}, facts_with(FileFact(True, b"\x00", "0644", "root", "root", "file")))
    assert change.diff[0].startswith("~ binary content 1 bytes") and "2 bytes" in change.diff[0]


def test_absent_removes_and_a_directory_is_refused():
    (change,) = file.plan({"path": PATH, "state": "absent"}, facts_with(FileFact(True, b"x\n", "0644", "root", "root", "file")))
    assert change.commands == (f"rm -f -- {PATH}",)
    assert file.plan({"path": PATH, "state": "absent"}, facts_with(FileFact(False))) == []
    with pytest.raises(ModuleError, match="directory"):
        file.plan({"path": PATH, "content": ""}, facts_with(FileFact(True, None, "0755", "root", "root", "directory")))


@pytest.mark.parametrize("mode", ["644", "0o644", "rw-r--r--", 99999])
def test_bad_modes_are_refused_except_three_digit_octal(mode):
    if mode == "644":
        assert file._mode(mode) == "0644"
        return
    with pytest.raises(ModuleError, match="mode"):
        file.facts_needed({"path": PATH, "content": "", "mode": mode})


def apply_and_read(path, args):
    """Run the planned commands in a real `set -e` sh, then read the file back with the facts snippet."""
    facts = HostFacts(files=parse_files(subprocess.run(["sh", "-c", files_snippet([path])], capture_output=True, text=True).stdout))
    changes = file.plan(args, facts)
    script = "set -e\n" + "\n".join(c for change in changes for c in change.commands)
    # Through stdin, as the executor must: a large file exceeds the 128 KiB limit of one `sh -c` argument.
    subprocess.run(["sh", "-s"], input=script.encode(), check=True)
    return HostFacts(files=parse_files(subprocess.run(["sh", "-c", files_snippet([path])], capture_output=True, text=True).stdout))


@pytest.mark.parametrize(
    "content",
    [b"plain text\n", b"", b"\x00\x01\xff no newline", "caf\u00e9 ' \" $(x) `y`\n".encode(), os.urandom(200_000)],
)
def test_applied_for_real_then_idempotent(tmp_path, content):
    path = str(tmp_path / "sub dir" / "it's a file")
    args = {"path": path, "content": content, "mode": "0640", "owner": ME, "group": MY_GROUP}
    after = apply_and_read(path, args)
    assert after.files[path].content == content and after.files[path].mode == "0640"
    assert file.plan(args, after) == []
    assert [p.name for p in (tmp_path / "sub dir").iterdir()] == ["it's a file"]  # no temp file left


def test_mode_fix_applied_for_real(tmp_path):
    path = str(tmp_path / "f")
    (tmp_path / "f").write_bytes(b"same\n")
    os.chmod(path, 0o600)
    args = {"path": path, "content": "same\n", "mode": "0644", "owner": ME, "group": MY_GROUP}
    after = apply_and_read(path, args)
    assert after.files[path].mode == "0644" and file.plan(args, after) == []
