"""Files: existence, content (any byte survives the trip), mode, owner and group.

Built-in tests (`[ -f ]`, `[ -r ]`, ...) name each path's kind; then ONE `tar | base64` carries the content,
mode and owner of every path that exists: two processes for all files instead of two per file (a process
costs tens of milliseconds on a slow host). Paths travel base64-encoded, so names with spaces or newlines
cannot break the one-line-per-path format; tar itself keeps any byte of a name or a content.
"""

from __future__ import annotations

import base64
import io
import shlex
import tarfile

from lvsdeploy.facts import FileFact


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def files_snippet(paths) -> str:
    """One line per path, P being the base64 path: `file|unreadable|directory|other|absent P`, then
    `tar ARCHIVE` (base64) holding every existing path, symlinks followed, directories without their contents."""
    if not paths:
        return ""
    lines = []
    for path in sorted(paths):
        p, tag = shlex.quote(path), _b64(path)
        lines.append(
            f"if [ -f {p} ]; then if [ -r {p} ]; then echo 'file {tag}'; else echo 'unreadable {tag}'; fi; "
            f"elif [ -d {p} ]; then echo 'directory {tag}'; elif [ -e {p} ]; then echo 'other {tag}'; "
            f"else echo 'absent {tag}'; fi"
        )
    quoted = " ".join(shlex.quote(p) for p in sorted(paths))
    # -P keeps the leading '/', -h and --hard-dereference store each path's own content (never a link entry)
    lines.append(f"printf 'tar '; tar -c -P -h --hard-dereference --no-recursion -f - -- {quoted} 2>/dev/null "
                 "| base64 -w0; echo")
    return "\n".join(lines)


def _archive(encoded: str) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    entries = {}
    if not encoded:
        return entries
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(encoded)), mode="r:") as archive:
        try:
            for member in archive:
                data = archive.extractfile(member).read() if member.isfile() else None
                entries[member.name] = (member, data)
        except tarfile.ReadError:
            pass   # an archive cut short (tar killed, output lost): what was read stands, the rest has no stat
    return entries


def parse_files(text: str) -> dict[str, FileFact]:
    kinds: dict[str, str] = {}
    encoded = ""
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "tar":
            encoded = rest.strip()
        elif kind in ("file", "unreadable", "directory", "other", "absent") and rest:
            kinds[base64.b64decode(rest).decode()] = kind
    entries = _archive(encoded)
    files: dict[str, FileFact] = {}
    for path, kind in kinds.items():
        if kind == "absent":
            files[path] = FileFact(exists=False)
            continue
        member, data = entries.get(path, (None, None))
        files[path] = FileFact(
            exists=True,
            content=(data if data is not None else b"") if kind == "file" and member else None,
            mode=f"{member.mode & 0o7777:04o}" if member else None,
            owner=(member.uname or str(member.uid)) if member else None,
            group=(member.gname or str(member.gid)) if member else None,
            kind="file" if kind in ("file", "unreadable") else kind,
        )
    return files
