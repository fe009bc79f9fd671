"""Every filesystem lvsdeploy mounts on a host, as one list: in /etc/fstab and mounted now; with `purge`, the
lvsdeploy mounts that are no longer in the list are unmounted and their fstab lines removed.

The `# lvsdeploy` marker at the end of an fstab line is the memory of what lvsdeploy mounted: a share removed
from the inventory is still found there, so the plan can show its removal. Lines without the marker are the
administrator's and are never touched (one for a wanted mount point stops the plan).
/etc/fstab is computed once for the whole list and written once, so mounts cannot overwrite each other's line.

Order of the commands: unmount what leaves first (a busy mount stops the apply with fstab untouched), then
write fstab, then mount or remount (`mount PATH` reads the new line).
"""

from __future__ import annotations

from lvsdeploy.modules import fstab
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_bool, check_args, file_guard, q

NAME = "mounts"


def _args(args: dict) -> dict:
    check_args(NAME, args, ("present",), ("purge",))
    present = args["present"]
    if not isinstance(present, list):
        raise ModuleError(f"{NAME}: present must be a list of mounts like {{src, path, fstype, opts}}, got {present!r}")
    wanted: dict[str, dict] = {}
    for i, entry in enumerate(present):
        if not isinstance(entry, dict):
            raise ModuleError(f"{NAME}: present[{i}] must be a mapping like {{src, path, fstype, opts}}, got {entry!r}")
        try:
            a = fstab.mount_args(entry)
        except ModuleError as exc:
            raise ModuleError(f"{NAME}: present[{i}]: {str(exc).removeprefix(NAME + ': ')}") from None
        if a["path"] in wanted:
            raise ModuleError(f"{NAME}: present[{i}]: {a['path']} is listed twice")
        wanted[a["path"]] = a
    return {"wanted": wanted, "purge": bool(as_bool(NAME, "purge", args.get("purge", False)))}


def facts_needed(args: dict) -> FactsRequest:
    wanted = _args(args)["wanted"]
    # a device given by a /dev/disk/by-* link shows in /proc/self/mounts under the name it points to
    return FactsRequest(files={fstab.FSTAB}, devices={w["src"] for w in wanted.values() if w["src"].startswith("/dev/")})


def _resolved(w: dict, facts) -> dict:
    dev = facts.devices.get(w["src"]) if w["src"].startswith("/dev/") else None
    return {**w, "src": dev.realpath} if dev is not None and dev.realpath else w


def _mounted(src: str, path: str, fstype: str, opts: str | None = None) -> str:
    return f"mounted {src} on {path} type {fstype}" + (f" ({opts})" if opts else "")


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    wanted, purge = a["wanted"], a["purge"]
    current, lines = fstab.fstab_lines(facts)
    for path in wanted:
        fstab.check_not_theirs(path, lines)

    new_lines: list[str] = []
    placed: set[str] = set()
    leaving: list[str] = []          # mount points of our lines that go away
    for line in lines:
        path = fstab.mount_point(line) if fstab.is_ours(line) else None
        if path is None:
            new_lines.append(line)
        elif path in wanted:
            if path not in placed:   # our line where it was, so the administrator's order stays; duplicates go
                new_lines.append(fstab.fstab_line(wanted[path]))
                placed.add(path)
        elif purge:
            if path not in leaving:
                leaving.append(path)
        else:
            new_lines.append(line)
    new_lines += [fstab.fstab_line(w) for path, w in wanted.items() if path not in placed]

    changes = []
    for path in leaving:
        live = fstab.live_mount(facts, path)
        if live is not None:
            changes.append(Change(f"mount {path}", (f"- {_mounted(live.src, path, live.fstype)}",),
                                  (f"umount {q(path)}",)))
    if new_lines != lines:
        kept = set(new_lines)
        gone = set(lines)
        diff = [f"- {line}" for line in lines if line not in kept]
        diff += [f"+ {line}" for line in new_lines if line not in gone]
        changes.append(Change(f"file {fstab.FSTAB}", tuple(diff), tuple(fstab.write_fstab_commands(current, new_lines)),
                              guards=file_guard(fstab.FSTAB, current)))
    for path, w in wanted.items():
        live = fstab.live_mount(facts, path)
        if live is None:
            changes.append(Change(f"mount {path}", (f"+ {_mounted(w['src'], path, w['fstype'], w['opts'])}",),
                                  (f"mkdir -p -- {q(path)}", f"mount {q(path)}")))
        elif not fstab.live_matches(_resolved(w, facts), live):
            changes.append(Change(f"mount {path}", (f"- {_mounted(live.src, path, live.fstype, live.opts)}",
                                                    f"+ {_mounted(w['src'], path, w['fstype'], w['opts'])}"),
                                  (f"umount {q(path)}", f"mount {q(path)}")))
    return changes
