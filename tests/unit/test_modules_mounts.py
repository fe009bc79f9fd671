"""mounts: the whole list of lvsdeploy mounts in one fstab write; purge removes marked lines that left the list."""

import base64
import re
from pathlib import Path

import pytest

from lvsdeploy.facts import FileFact, Mount
from lvsdeploy.facts.gather import parse
from lvsdeploy.modules import MODULES, mounts
from lvsdeploy.modules.base import SYSTEMD_STALE, FactsRequest, ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
CONTENT = {"src": "10.20.0.5:/srv/lvs/content", "path": "/var/www/html/shared", "fstype": "nfs",
           "opts": "rw,hard,vers=4.2,_netdev,bg"}
MEDIA = {"src": "10.20.0.5:/srv/lvs/media", "path": "/var/www/html/media", "fstype": "nfs",
         "opts": "ro,vers=4.2,_netdev,bg"}
CONTENT_LINE = "10.20.0.5:/srv/lvs/content /var/www/html/shared nfs rw,hard,vers=4.2,_netdev,bg 0 0 # lvsdeploy"
MEDIA_LINE = "10.20.0.5:/srv/lvs/media /var/www/html/media nfs ro,vers=4.2,_netdev,bg 0 0 # lvsdeploy"
# the line the realserver fixture already has (an earlier apply mounted /var/www/html itself)
OLD_LINE = "10.20.0.20:/srv/lvs/content /var/www/html nfs ro,vers=4.2,_netdev 0 0 # lvsdeploy"


def load(host):
    return parse((FIXTURES / f"{host}.facts").read_text())


def written_fstab(change) -> str:
    """The fstab content a change writes (the base64 payload of its atomic write)."""
    (payload,) = [m.group(1) for c in change.commands for m in [re.search(r"printf '%s' '([^']*)' \| base64", c)] if m]
    return base64.b64decode(payload).decode()


def applied(facts, changes, mounted=(), unmounted=()):
    """The facts as they are after the changes ran and the kernel reports `mounted`."""
    for change in changes:
        if change.resource == "file /etc/fstab":
            facts.files["/etc/fstab"] = FileFact(True, written_fstab(change).encode(), "0644", "root", "root", "file")
    facts.mounts = [m for m in facts.mounts if m.path not in unmounted] + list(mounted)
    return facts


def live(entry, fstype="nfs4", opts="rw,relatime,vers=4.2,hard,proto=tcp,sec=sys,addr=10.20.0.5"):
    return Mount(entry["src"], entry["path"], fstype, opts)


def test_registered_and_reads_only_fstab():
    assert MODULES["mounts"] is mounts
    assert mounts.facts_needed({"present": [CONTENT]}) == FactsRequest(files={"/etc/fstab"})


def test_two_new_mounts_one_fstab_write_then_both_mounted():
    facts = load("director")
    changes = mounts.plan({"present": [CONTENT, MEDIA], "purge": True}, facts)
    assert [c.resource for c in changes] == ["file /etc/fstab", "mount /var/www/html/shared", "mount /var/www/html/media"]
    fstab, first, _ = changes
    assert fstab.diff == (f"+ {CONTENT_LINE}", f"+ {MEDIA_LINE}")
    assert written_fstab(fstab).endswith(f"{CONTENT_LINE}\n{MEDIA_LINE}\n")
    # systemd is told its fstab is stale, and reloaded once by the script after its last change: mount(8)
    # reads fstab itself, so no reload (seconds on a slow host) waits before each mount.
    assert fstab.commands[-1] == SYSTEMD_STALE
    assert first.diff == (f"+ mounted {CONTENT['src']} on {CONTENT['path']} type nfs ({CONTENT['opts']})",)
    assert first.commands == ("mkdir -p -- /var/www/html/shared", "mount /var/www/html/shared")
    # Idempotence: the written fstab and the mounts the kernel then reports.
    applied(facts, changes, mounted=[live(CONTENT), live(MEDIA, opts="ro,relatime,vers=4.2,addr=10.20.0.5")])
    assert mounts.plan({"present": [CONTENT, MEDIA], "purge": True}, facts) == []


def test_purge_unmounts_first_then_removes_only_marked_lines():
    facts = load("realserver")
    before = facts.files["/etc/fstab"].content.decode()
    changes = mounts.plan({"present": [], "purge": True}, facts)
    assert [c.resource for c in changes] == ["mount /var/www/html", "file /etc/fstab"]
    unmount, fstab = changes
    assert unmount.diff == ("- mounted 10.20.0.20:/srv/lvs/content on /var/www/html type nfs4",)
    assert unmount.commands == ("umount /var/www/html",)
    assert fstab.diff == (f"- {OLD_LINE}",)
    assert written_fstab(fstab) == before.replace(OLD_LINE + "\n", "")
    assert fstab.commands[-1] == SYSTEMD_STALE   # the script's final refresh reloads systemd
    assert "UUID=" in written_fstab(fstab)            # the administrator's lines stay
    assert not any("rm " in c or "rmdir" in c for c in unmount.commands + fstab.commands)
    applied(facts, changes, unmounted=["/var/www/html"])
    assert mounts.plan({"present": [], "purge": True}, facts) == []


def test_without_purge_unlisted_lines_stay():
    facts = load("realserver")
    changes = mounts.plan({"present": [CONTENT]}, facts)
    assert [c.resource for c in changes] == ["file /etc/fstab", "mount /var/www/html/shared"]
    assert changes[0].diff == (f"+ {CONTENT_LINE}",)
    assert OLD_LINE in written_fstab(changes[0])


def test_replacing_a_share_unmounts_the_old_and_mounts_the_new():
    facts = load("realserver")
    changes = mounts.plan({"present": [CONTENT], "purge": True}, facts)
    assert [c.resource for c in changes] == ["mount /var/www/html", "file /etc/fstab", "mount /var/www/html/shared"]
    assert changes[1].diff == (f"- {OLD_LINE}", f"+ {CONTENT_LINE}")
    # the new line takes the old one's place, after the administrator's lines as before
    assert written_fstab(changes[1]).splitlines()[-1] == CONTENT_LINE


def test_changed_options_rewrite_the_line_and_remount():
    facts = applied(load("director"), mounts.plan({"present": [CONTENT]}, load("director")), mounted=[live(CONTENT)])
    ro = {**CONTENT, "opts": "ro,hard,vers=4.2,_netdev,bg"}
    fstab, remount = mounts.plan({"present": [ro], "purge": True}, facts)
    assert fstab.diff == (f"- {CONTENT_LINE}", f"+ {CONTENT_LINE.replace('rw,', 'ro,')}")
    assert remount.resource == "mount /var/www/html/shared"
    assert remount.diff[0].startswith("- mounted 10.20.0.5:/srv/lvs/content on /var/www/html/shared type nfs4 (rw,")
    assert remount.diff[1].endswith("(ro,hard,vers=4.2,_netdev,bg)")
    assert remount.commands == ("umount /var/www/html/shared", "mount /var/www/html/shared")
    # options the kernel does not echo (bg, _netdev) change fstab only: no remount
    quiet = {**CONTENT, "opts": "rw,hard,vers=4.2,_netdev"}
    (only_fstab,) = mounts.plan({"present": [quiet], "purge": True}, facts)
    assert only_fstab.resource == "file /etc/fstab"


def test_a_line_we_did_not_write_stops_the_plan():
    facts = load("director")
    theirs = facts.files["/etc/fstab"].content.decode() + "nas:/export /var/www/html/shared nfs defaults 0 0\n"
    facts.files["/etc/fstab"] = FileFact(True, theirs.encode(), "0644", "root", "root", "file")
    with pytest.raises(ModuleError, match="did not write"):
        mounts.plan({"present": [CONTENT], "purge": True}, facts)


def test_duplicate_marked_lines_collapse_to_one():
    facts = load("director")
    doubled = facts.files["/etc/fstab"].content.decode() + f"{CONTENT_LINE}\n{CONTENT_LINE}\n"
    facts.files["/etc/fstab"] = FileFact(True, doubled.encode(), "0644", "root", "root", "file")
    facts.mounts.append(live(CONTENT))
    (fstab,) = mounts.plan({"present": [CONTENT], "purge": True}, facts)
    assert written_fstab(fstab).count(CONTENT_LINE) == 1


@pytest.mark.parametrize("args, message", [
    ({"present": CONTENT}, "present must be a list"),
    ({"present": ["x"]}, r"present\[0\] must be a mapping"),
    # no state in an entry: what is not listed is absent (with purge)
    ({"present": [{**CONTENT, "state": "absent"}]}, r"present\[0\]: unknown argument\(s\): state"),
    ({"present": [{"path": "/mnt"}]}, r"present\[0\]: missing argument\(s\): src"),
    ({"present": [{"src": "nas:/x"}]}, r"present\[0\]: missing argument\(s\): path"),
    ({"present": [{**CONTENT, "path": "var/www"}]}, r"present\[0\]: path must be an absolute"),
    ({"present": [{**CONTENT, "opts": "rw, hard"}]}, r"present\[0\]: opts must be"),
    ({"present": [CONTENT, CONTENT]}, "listed twice"),
    ({"present": [], "purge": "maybe"}, "purge must be true or false"),
    ({"mounts": []}, "missing argument"),
])
def test_arguments_are_checked(args, message):
    with pytest.raises(ModuleError, match=message):
        mounts.facts_needed(args)
