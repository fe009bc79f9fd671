"""/etc/fstab lines and live mounts, for the `mounts` module: one entry's arguments, its fstab line, and
whether the kernel's mount matches it.

lvsdeploy owns only the fstab lines it wrote, which end in `# lvsdeploy`; any other line for the same mount
point is the administrator's and stops the plan instead of being overwritten. The live mount is compared on
what the kernel echoes back: NFS options come back expanded (vers=4.2,rsize=...,addr=...), so only the
options the user gave that the kernel reports verbatim are compared.
"""

from __future__ import annotations

from lvsdeploy.facts.mounts import unescape
from lvsdeploy.modules.base import ModuleError, as_str, check_args
from lvsdeploy.modules.file import check_path, write_commands

NAME = "mounts"
FSTAB = "/etc/fstab"
MARK = "# lvsdeploy"

# Flags the kernel lists in /proc/mounts exactly as given, and options whose value it echoes.
ECHOED_FLAGS = {"ro", "rw", "nosuid", "nodev", "noexec", "noatime", "hard", "soft"}
ECHOED_VALUES = {"vers", "proto", "sec"}
SAME_FSTYPE = {"nfs4": "nfs"}  # an NFSv4 mount of type nfs is reported as nfs4


def mount_args(args: dict) -> dict:
    """One wanted mount, checked: {src, path, fstype, opts}."""
    check_args(NAME, args, ("path", "src"), ("fstype", "opts"))
    opts = args.get("opts") or "defaults"
    if isinstance(opts, list):
        opts = ",".join(str(o) for o in opts)
    opts = as_str(NAME, "opts", opts)
    if any(c.isspace() for c in opts):
        raise ModuleError(f"{NAME}: opts must be a comma-separated list without spaces, got {opts!r}")
    fstype = as_str(NAME, "fstype", args.get("fstype") or "nfs")
    if not fstype.replace("_", "").replace(".", "").isalnum():
        raise ModuleError(f"{NAME}: fstype must be a filesystem type name, got {fstype!r}")
    return {
        "src": as_str(NAME, "src", args["src"]),
        "path": check_path(NAME, args["path"]),
        "fstype": fstype,
        "opts": opts,
    }


def _escape(field: str) -> str:
    """fstab and /proc/mounts write space, tab, newline and backslash as octal escapes."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in field)


def fstab_line(a: dict) -> str:
    return f"{_escape(a['src'])} {_escape(a['path'])} {a['fstype']} {a['opts']} 0 0 {MARK}"


def mount_point(line: str) -> str | None:
    fields = line.split()
    if len(fields) < 2 or fields[0].startswith("#"):
        return None
    return unescape(fields[1]).rstrip("/") or "/"


def is_ours(line: str) -> bool:
    return mount_point(line) is not None and line.rstrip().endswith(MARK)


def fstab_lines(facts) -> tuple[object, list[str]]:
    """(the FileFact of /etc/fstab, its lines); raises when the facts were not requested."""
    fstab = facts.files.get(FSTAB)
    if fstab is None:
        raise ModuleError(f"{NAME}: no facts were read for {FSTAB} (facts_needed was not merged)")
    text = (fstab.content or b"").decode("utf-8", "surrogateescape") if fstab.exists else ""
    return fstab, text.splitlines()


def check_not_theirs(path: str, lines: list[str]) -> None:
    theirs = [line for line in lines if mount_point(line) == path and not is_ours(line)]
    if theirs:
        raise ModuleError(
            f"{NAME}: {FSTAB} already has a line for {path} that lvsdeploy did not write ({theirs[0]!r});"
            f" remove it, or end it with '{MARK}' to hand it over"
        )


def live_mount(facts, path: str):
    """The mount the kernel shows on `path` (the topmost when stacked), or None."""
    return ([m for m in facts.mounts if m.path.rstrip("/") == path] or [None])[-1]


def write_fstab_commands(fstab, lines: list[str]) -> list[str]:
    content = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    # write_commands marks systemd stale (it keeps the fstab it read until a reload); mount(8) reads the file
    # itself, so the script's one reload after its last change is soon enough
    return list(write_commands(FSTAB, content, fstab.mode or "0644", fstab.owner or "root", fstab.group or "root"))


def _opts(text: str) -> dict[str, str | None]:
    result = {}
    for opt in text.split(","):
        key, _, value = opt.partition("=")
        result["vers" if key == "nfsvers" else key] = value or None
    return result


def live_matches(a: dict, live) -> bool:
    if live.src.rstrip("/") != a["src"].rstrip("/"):
        return False
    if SAME_FSTYPE.get(live.fstype, live.fstype) != SAME_FSTYPE.get(a["fstype"], a["fstype"]):
        return False
    want, have = _opts(a["opts"]), _opts(live.opts)
    if ("ro" in want) != ("ro" in have):
        return False
    for key, value in want.items():
        if key in ECHOED_FLAGS and key not in have:
            return False
        if key in ECHOED_VALUES and value is not None:
            # vers=4 is satisfied by the negotiated vers=4.2; vers=4.1 only by 4.1.
            current = have.get(key) or ""
            if current != value and not current.startswith(value + "."):
                return False
    return True
