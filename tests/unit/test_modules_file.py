"""file: unified diffs, atomic base64 writes, metadata-only fixes; applied for real in a temp dir."""

import grp
import os
import pwd
import re
import subprocess
from ipaddress import IPv4Interface

import pytest

from lvsdeploy.facts import FileFact, HostFacts, Interface
from lvsdeploy.facts.files import files_snippet, parse_files
from lvsdeploy.modules import file
from lvsdeploy.modules.base import SYSTEMD_STALE, ModuleError

PATH = "/etc/sysctl.d/90-lvsdeploy.conf"
ME, MY_GROUP = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def facts_with(fact):
    return HostFacts(files={PATH: fact})


def existing(content, mode="0644", group="root"):
    return FileFact(True, content, mode, "root", group, "file")


def test_new_file_diff_and_atomic_write():
    (change,) = file.plan({"path": PATH, "content": "net.ipv4.ip_forward = 1\n"}, facts_with(FileFact(False)))
    assert change.resource == f"file {PATH}"
    assert change.diff == (f"--- {PATH}", f"+++ {PATH}", "@@ -0,0 +1 @@", "+net.ipv4.ip_forward = 1")
    assert change.commands[0] == "mkdir -p -- /etc/sysctl.d"
    assert change.commands[1] == "lvs_tmp=$(mktemp /etc/sysctl.d/.lvsdeploy.XXXXXX)"
    assert change.commands[-1] == f'mv -f -- "$lvs_tmp" {PATH}'


def test_changed_content_shows_a_unified_diff_and_metadata():
    (change,) = file.plan({"path": PATH, "content": "a\nc\n"}, facts_with(existing(b"a\nb\n", "0600", "adm")))
    assert "-b" in change.diff and "+c" in change.diff
    assert change.diff[-2:] == ("~ mode 0600 -> 0644", "~ group adm -> root")


def test_only_metadata_differs():
    (change,) = file.plan({"path": PATH, "content": "x\n", "mode": "644"}, facts_with(existing(b"x\n", "0600")))
    assert change.diff == ("~ mode 0600 -> 0644",)
    assert change.commands == (f"chmod 0644 {PATH}",)


def test_binary_content_is_summarised_not_diffed():
    (change,) = file.plan({"path": PATH, "content": b"\x00\xff"}, facts_with(existing(b"\x00")))
    assert change.diff[0].startswith("~ binary content 1 bytes") and "2 bytes" in change.diff[0]


def test_absent_removes_and_a_directory_is_refused():
    (change,) = file.plan({"path": PATH, "state": "absent"}, facts_with(existing(b"x\n")))
    assert change.commands == (f"rm -f -- {PATH}",)
    assert file.plan({"path": PATH, "state": "absent"}, facts_with(FileFact(False))) == []
    with pytest.raises(ModuleError, match="directory"):
        file.plan({"path": PATH, "content": ""}, facts_with(FileFact(True, None, "0755", "root", "root", "directory")))


def test_a_unit_file_written_or_removed_leaves_systemd_stale():
    # systemd reads a unit again only on daemon-reload; the script reloads once, when a command needs it.
    unit = "/etc/systemd/system/lvsdeploy-network.service"
    (written,) = file.plan({"path": unit, "content": "[Unit]\n"}, HostFacts(files={unit: FileFact(False)}))
    assert written.commands[-2:] == (f'mv -f -- "$lvs_tmp" {unit}', SYSTEMD_STALE)
    (removed,) = file.plan({"path": unit, "state": "absent"}, HostFacts(files={unit: existing(b"[Unit]\n")}))
    assert removed.commands == (f"rm -f -- {unit}", SYSTEMD_STALE)
    # Another file, or only the mode of a unit, is nothing systemd has to read again.
    (other,) = file.plan({"path": PATH, "content": "x\n"}, facts_with(FileFact(False)))
    assert SYSTEMD_STALE not in other.commands
    (mode,) = file.plan({"path": unit, "content": "[Unit]\n", "mode": "0600"},
                        HostFacts(files={unit: existing(b"[Unit]\n")}))
    assert mode.commands == (f"chmod 0600 {unit}",)


@pytest.mark.parametrize("mode", ["0o644", "rw-r--r--", "99999", 420, 644])
def test_bad_modes_are_refused(mode):
    # An unquoted YAML 0644 arrives as the number 420: refused rather than guessed.
    with pytest.raises(ModuleError, match="mode"):
        file.facts_needed({"path": PATH, "content": "", "mode": mode})


def read(path):
    out = subprocess.run(["sh", "-c", files_snippet([path])], capture_output=True, text=True, check=True).stdout
    return HostFacts(files=parse_files(out))


def apply_and_read(path, args):
    """Run the planned commands in a real `set -e` sh, then read the file back with the facts snippet."""
    changes = file.plan(args, read(path))
    script = "set -e\n" + "\n".join(c for change in changes for c in change.commands)
    # Through stdin, as the executor must: a large file exceeds the 128 KiB limit of one `sh -c` argument.
    subprocess.run(["sh", "-s"], input=script.encode(), check=True)
    return read(path)


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


def test_a_leading_double_slash_is_one_slash():
    # so that "//etc/systemd/system/x.service" is seen as a unit file (it marks systemd stale) and matches facts
    from lvsdeploy.modules.base import systemd_reads
    from lvsdeploy.modules.file import check_path
    assert check_path("file", "//etc/systemd/system/x.service") == "/etc/systemd/system/x.service"
    assert systemd_reads(check_path("file", "//etc/systemd/system/x.service"))
    assert systemd_reads("/etc/fstab") and not systemd_reads("/etc/fstab.d/x")


# ---- validate: the new content passes a command before it replaces the old --------------------------------

CONF = "/etc/keepalived/keepalived.conf"


def test_validate_runs_on_the_temp_file_right_before_the_rename():
    args = {"path": CONF, "content": "global_defs {\n}\n"}
    (plain,) = file.plan(args, HostFacts(files={CONF: FileFact(False)}))
    (checked,) = file.plan({**args, "validate": "keepalived -t -f %s"}, HostFacts(files={CONF: FileFact(False)}))
    check = checked.commands[-2]
    assert checked.commands[-1] == f'mv -f -- "$lvs_tmp" {CONF}'
    # one command more than without validate, just before the mv: written, owned and moded, then tested
    assert checked.commands[:-2] + checked.commands[-1:] == plain.commands
    assert check.startswith('if ! ( keepalived -t -f "$lvs_tmp" ); then rm -f "$lvs_tmp"; echo ')
    assert check.endswith(" >&2; exit 1; fi")
    assert "%s" not in check
    # the message names the file and the test (with FILE for the temp file's name)
    assert f"lvsdeploy: {CONF}: the new content fails `keepalived -t -f FILE`" in check
    assert checked.diff == plain.diff and checked.guards == plain.guards
    subprocess.run(["sh", "-n"], input="\n".join(checked.commands), text=True, check=True)


def test_validate_with_a_shell_expression_is_kept_whole():
    # ldirectord's test (checkers.CONFIG_TEST): `status` exits 3 for "parsed, not running"; the subshell keeps
    # the || inside the test
    (change,) = file.plan({"path": "/etc/ha.d/ldirectord.cf", "content": "x\n",
                           "validate": "ldirectord %s status >/dev/null || [ $? -eq 3 ]"},
                          HostFacts(files={"/etc/ha.d/ldirectord.cf": FileFact(False)}))
    assert change.commands[-2].startswith(
        'if ! ( ldirectord "$lvs_tmp" status >/dev/null || [ $? -eq 3 ] ); then rm -f "$lvs_tmp"; ')


def test_validate_is_not_run_for_a_metadata_fix():
    # the content on the host is not new: nothing to test, only a chmod
    (change,) = file.plan({"path": PATH, "content": "x\n", "mode": "0600", "validate": "false %s"},
                          facts_with(existing(b"x\n")))
    assert change.commands == (f"chmod 0600 {PATH}",)


@pytest.mark.parametrize("validate", ["keepalived -t", "cmp %s %s", "", ["keepalived", "-t", "-f", "%s"], 1, True])
def test_a_validate_without_exactly_one_placeholder_is_refused(validate):
    args = {"path": CONF, "content": "x\n", "validate": validate}
    with pytest.raises(ModuleError, match=r"^file: validate must be a command with one %s for the new file"):
        file.facts_needed(args)
    with pytest.raises(ModuleError, match="validate must be a command with one %s"):
        file.plan(args, HostFacts(files={CONF: FileFact(False)}))


def test_validate_applied_for_real_keeps_the_old_file_when_it_fails(tmp_path):
    path = str(tmp_path / "etc" / "app.conf")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "app.conf").write_bytes(b"good\n")
    base = {"owner": ME, "group": MY_GROUP}
    # A test that fails: the script stops with status 1 before the mv; the old file and no temp file remain.
    changes = file.plan({"path": path, "content": "bad\n", "validate": "grep -q good %s", **base}, read(path))
    run = subprocess.run(["sh", "-s"], input="set -e\n" + "\n".join(c for ch in changes for c in ch.commands)
                         + "\necho after\n", text=True, capture_output=True)
    assert run.returncode == 1
    assert run.stdout == ""   # nothing after the failed test ran
    assert run.stderr.strip() == (f"lvsdeploy: {path}: the new content fails `grep -q good FILE`; the old file "
                                  "is kept and nothing after it is changed")
    assert (tmp_path / "etc" / "app.conf").read_bytes() == b"good\n"
    assert [p.name for p in (tmp_path / "etc").iterdir()] == ["app.conf"]
    # A test that passes: written as without validate.
    after = apply_and_read(path, {"path": path, "content": "still good\n", "validate": "grep -q good %s", **base})
    assert after.files[path].content == b"still good\n"
    assert [p.name for p in (tmp_path / "etc").iterdir()] == ["app.conf"]


# ---- devices: "@lvsdeploy-device-of:ADDRESS@" becomes the host's interface for that address, at plan time ---

def with_interfaces(fact: FileFact) -> HostFacts:
    return HostFacts(files={CONF: fact}, interfaces={
        "lo": Interface("lo", None, True, None, [IPv4Interface("127.0.0.1/8")]),
        "eth0": Interface("eth0", "52:54:00:00:00:01", True, None, [IPv4Interface("172.16.0.2/24")]),
        "eth1": Interface("eth1", "52:54:00:00:00:02", True, None, [IPv4Interface("10.20.0.2/24")])})


TOKENS = ("interface @lvsdeploy-device-of:10.20.0.2@\n"
          "10.20.0.10/32 dev @lvsdeploy-device-of:10.20.0.10@\n"
          "lvs_sync_daemon @lvsdeploy-device-of:172.16.0.9@ VI_LVS\n")
RESOLVED = b"interface eth1\n10.20.0.10/32 dev eth1\nlvs_sync_daemon eth0 VI_LVS\n"


def added(change) -> list[str]:
    return [line[1:] for line in change.diff if line.startswith("+") and not line.startswith("+++")]


def test_devices_are_filled_in_from_the_facts():
    args = {"path": CONF, "content": TOKENS, "devices": True}
    (change,) = file.plan(args, with_interfaces(FileFact(False)))
    assert added(change) == RESOLVED.decode().splitlines()
    assert not any("lvsdeploy-device-of" in c for c in change.commands)
    # the host's file already names those interfaces: nothing to change
    assert file.plan(args, with_interfaces(existing(RESOLVED))) == []


@pytest.mark.parametrize("address", ["192.168.9.9", "127.0.0.5"])   # no network covers it; lo does not count
def test_a_device_no_interface_has_is_refused_naming_the_address(address):
    args = {"path": CONF, "content": f"interface @lvsdeploy-device-of:{address}@\n", "devices": True}
    with pytest.raises(ModuleError, match=re.escape(address)):
        file.plan(args, with_interfaces(FileFact(False)))


@pytest.mark.parametrize("devices", [None, False])
def test_without_devices_true_the_tokens_stay(devices):
    args = {"path": CONF, "content": TOKENS, **({} if devices is None else {"devices": devices})}
    (change,) = file.plan(args, with_interfaces(FileFact(False)))
    assert added(change) == TOKENS.splitlines()
