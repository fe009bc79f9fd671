"""modules/iscsi_targets.py: the LIO target of each block share, planned from configfs facts (no host needed)."""

import json
import shlex
from types import SimpleNamespace

import pytest

from lvsdeploy.facts.iscsi import parse_targets
from lvsdeploy.modules import ModuleError
from lvsdeploy.modules.iscsi_targets import notes, plan

PREFIX = "iqn.2026-11.io.lvsdeploy:storage1."
IQN = PREFIX + "content"
DEV = "/dev/disk/by-id/virtio-lvs-lun0"
WANTED = {"iqn": IQN, "backstore": "lvs_content", "device": DEV, "portal": "10.20.0.5:3260",
          "initiators": ["iqn.2026-11.io.lvsdeploy:rs1", "iqn.2026-11.io.lvsdeploy:rs2"]}
AS_WANTED = f"""tpg {IQN} 1 1 0
portal {IQN} 1 10.20.0.5:3260
acl {IQN} 1 iqn.2026-11.io.lvsdeploy:rs1
acl {IQN} 1 iqn.2026-11.io.lvsdeploy:rs2
lun {IQN} 1 0 iblock_0/lvs_content
backstore iblock_0/lvs_content {DEV}
"""


def facts(text: str):
    return SimpleNamespace(iscsi_targets=parse_targets(text))


def args(*targets, purge=True):
    return {"present": list(targets), "prefix": PREFIX, "purge": purge}


def spec_of(change) -> dict:
    words = shlex.split(change.commands[0])
    assert words[:2] == ["python3", "-c"] and words[3] == "ensure"
    return json.loads(words[4])


def test_a_new_target_is_one_command_with_the_whole_spec():
    (change,) = plan(args(WANTED), facts(""))
    assert change.resource == f"iscsi target {IQN}"
    assert change.diff[0].startswith(f"+ target {IQN}: LUN 0 = {DEV}, portal 10.20.0.5:3260")
    assert spec_of(change) == {**WANTED, "size": None, "keep": []}


def test_as_wanted_plans_nothing():
    assert plan(args(WANTED), facts(AS_WANTED)) == []


def test_an_initiator_leaving_and_one_joining_are_shown():
    wanted = {**WANTED, "initiators": ["iqn.2026-11.io.lvsdeploy:rs1", "iqn.2026-11.io.lvsdeploy:rs3"]}
    (change,) = plan(args(wanted), facts(AS_WANTED))
    assert change.diff == ("- initiator iqn.2026-11.io.lvsdeploy:rs2", "+ initiator iqn.2026-11.io.lvsdeploy:rs3")


def test_a_target_no_longer_wanted_is_removed_keeping_its_data():
    (change,) = plan(args(), facts(AS_WANTED))
    assert change.diff == (f"- target {IQN} (LUN 0 = {DEV}; its data stays)",)
    assert shlex.split(change.commands[0])[3:] == ["remove", IQN, "lvs_content"]
    assert plan(args(purge=False), facts(AS_WANTED)) == []


def test_someone_elses_target_is_never_touched():
    other = AS_WANTED.replace(IQN, "iqn.2003-01.org.linux-iscsi.storage1:sn.1234")
    assert plan(args(), facts(other)) == []


def test_a_device_exported_by_another_backstore_stops_the_plan():
    taken = f"backstore fileio_0/theirs {DEV}\n"
    with pytest.raises(ModuleError, match="already exported by LIO backstore fileio_0/theirs"):
        plan(args(WANTED), facts(taken))


def test_an_iqn_outside_the_prefix_is_refused():
    with pytest.raises(ModuleError, match="is not under prefix"):
        plan(args({**WANTED, "iqn": "iqn.2003-01.org.other:x"}), facts(""))


def test_a_target_demanding_chap_is_set_to_admit_by_acl():
    (change,) = plan(args(WANTED), facts(AS_WANTED.replace(f"tpg {IQN} 1 1 0", f"tpg {IQN} 1 1 1")))
    assert change.diff == ("- CHAP demanded", "+ initiators admitted by name (ACL), no CHAP")


LOGGED_IN = AS_WANTED + f"session {IQN} 1 iqn.2026-11.io.lvsdeploy:rs2\n"


def test_a_target_with_a_client_logged_in_stays_until_it_has_logged_out():
    # storage nodes apply before real servers: removing it now would pull the LUN from under a mounted client
    assert plan(args(), facts(LOGGED_IN)) == []
    (note,) = notes(args(), facts(LOGGED_IN))
    assert note.startswith(f"iscsi target {IQN} stays while iqn.2026-11.io.lvsdeploy:rs2 is logged in")
    assert notes(args(), facts(AS_WANTED)) == []


def test_a_logged_in_initiator_leaving_keeps_its_acl_for_now():
    wanted = {**WANTED, "initiators": ["iqn.2026-11.io.lvsdeploy:rs1", "iqn.2026-11.io.lvsdeploy:rs3"]}
    (change,) = plan(args(wanted), facts(LOGGED_IN))
    assert change.diff == ("+ initiator iqn.2026-11.io.lvsdeploy:rs3",)
    assert spec_of(change)["keep"] == ["iqn.2026-11.io.lvsdeploy:rs2"]
    (note,) = notes(args(wanted), facts(LOGGED_IN))
    assert "keeps iqn.2026-11.io.lvsdeploy:rs2's ACL while it is logged in" in note
    # nothing else to change: the ACL waiting for its logout is no change at all
    only_rs1 = {**WANTED, "initiators": ["iqn.2026-11.io.lvsdeploy:rs1"]}
    assert plan(args(only_rs1), facts(LOGGED_IN)) == []


def test_a_new_device_or_portal_under_a_logged_in_client_is_refused():
    # replacing LUN 0 or the portal would pull the disk from under a mounted cluster filesystem
    with pytest.raises(ModuleError, match="would change while iqn.2026-11.io.lvsdeploy:rs2 logged in"):
        plan(args({**WANTED, "device": "/dev/vdc"}), facts(LOGGED_IN))
    with pytest.raises(ModuleError, match="portals 10.20.0.5:3260 would change"):
        plan(args({**WANTED, "portal": "10.20.0.6:3260"}), facts(LOGGED_IN))
    (change,) = plan(args({**WANTED, "device": "/dev/vdc"}), facts(AS_WANTED))   # nobody logged in: done
    assert "+ LUN 0 = /dev/vdc" in change.diff
