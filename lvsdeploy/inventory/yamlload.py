"""YAML with line numbers, for error messages that point at the line to fix.

Mappings load as `YDict` and sequences as `YList`; both remember the 1-based line of each key / item.
Duplicate keys are reported (PyYAML silently keeps the last one, which hides typos in inventories);
YAML merge keys (`<<: *anchor`) still override quietly, as YAML intends.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import Problem

MERGE_TAG = "tag:yaml.org,2002:merge"
# An inventory is a few hundred lines: anything far past these is a mistake or an attack, refused with a message
# instead of a long wait or all the memory (a FIFO, /dev/zero, a "billion laughs" alias bomb, deep nesting).
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000      # values after expanding aliases
MAX_DEPTH = 64           # nested lists and mappings


class YDict(dict):
    """A dict that knows the line of each key (`lines`) and of itself (`line`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.line: int | None = None
        self.lines: dict[Any, int] = {}


class YList(list):
    """A list that knows the line of each item (`lines`) and of itself (`line`)."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.line: int | None = None
        self.lines: list[int] = []


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: MappingNode):
    data = YDict()
    data.line = node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)  # resolves `<<` merge keys; merged pairs come first so explicit keys win
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value, not a list or mapping", key_node.start_mark)
        data[key] = loader.construct_object(value_node, deep=True)
        data.lines[key] = key_node.start_mark.line + 1


def _construct_seq(loader: _Loader, node: SequenceNode):
    data = YList()
    data.line = node.start_mark.line + 1
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.lines.append(item.start_mark.line + 1)


def plain(value: Any) -> Any:
    """The same data as built-in dicts and lists (for code that dumps or compares it)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


@dataclass
class Loaded:
    """A parsed file: `data` is None for an empty file or when a syntax error stopped parsing."""

    data: Any
    problems: list[Problem] = field(default_factory=list)


def load_yaml(path: Path, shown_as: str) -> Loaded:
    """Parse one YAML file; problems name it as `shown_as` (the path the way the user wrote it)."""
    try:
        text = _read_regular_file(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Loaded(None, [Problem(shown_as, None, "file", f"cannot read: {reason}")])
    return parse_yaml(text, shown_as)


def _read_regular_file(path: Path) -> str:
    """The text of a regular file of bounded size; a device, FIFO or directory is refused without reading it
    (opened with O_NONBLOCK, so a FIFO without a writer cannot hang us)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file (a device, FIFO or directory)")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"{info.st_size} bytes; an inventory file may have at most {MAX_FILE_BYTES}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"more than {MAX_FILE_BYTES} bytes; an inventory file may have at most that")
    return data.decode("utf-8")


def parse_yaml(text: str, shown_as: str) -> Loaded:
    if text.startswith("$ANSIBLE_VAULT"):
        return Loaded(None, [Problem(shown_as, 1, "file", "Ansible Vault encrypted files are not supported")])
    try:
        _check_depth(text, shown_as)
    except yaml.reader.ReaderError as exc:   # a character YAML does not allow (NUL, other control characters)
        line = text[: exc.position].count("\n") + 1
        return Loaded(None, [Problem(shown_as, line, "YAML syntax", f"character {exc.character:#06x} is not allowed "
                                                                    "(control characters cannot be in an inventory)")])
    except _TooBig as big:
        return Loaded(None, [Problem(shown_as, big.line, "YAML", big.what)])
    except yaml.YAMLError:
        pass   # the full parse below reports syntax errors with their position
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        size_problem = _size_problem(node, shown_as) if node is not None else None
        if size_problem is not None:
            return Loaded(None, [size_problem])
        problems = _duplicate_keys(node, shown_as) if node is not None else []
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            what = f"{exc.problem} ({exc.context})"
        return Loaded(None, [Problem(shown_as, line, "YAML syntax", what)])
    except yaml.YAMLError as exc:  # errors without a position (rare: e.g. bad encoding)
        return Loaded(None, [Problem(shown_as, None, "YAML syntax", str(exc))])

    finally:
        loader.dispose()
    return Loaded(data, problems)


def _check_depth(text: str, shown_as: str) -> None:
    """Nesting deeper than MAX_DEPTH, found with YAML's event parser (iterative: no recursion limit to hit,
    unlike the composer that builds nodes)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _TooBig(event.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _size_problem(root: Node, shown_as: str) -> Problem | None:
    """Too deep, or too many values once aliases are expanded (each alias counts as a full copy, since the
    loader and every rule after it walk the data as if it were one)."""
    expanded: dict[int, int] = {}

    def size(node: Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _TooBig(node.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
        if id(node) in expanded:
            return expanded[id(node)]
        children = [v for pair in node.value for v in pair] if isinstance(node, MappingNode) else (
            node.value if isinstance(node, SequenceNode) else [])
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_NODES:
                raise _TooBig(node.start_mark.line + 1, f"more than {MAX_NODES} values once its aliases are expanded")
        expanded[id(node)] = total
        return total

    try:
        size(root, 1)
    except _TooBig as big:
        return Problem(shown_as, big.line, "YAML", big.what)
    return None


class _TooBig(Exception):
    def __init__(self, line: int, what: str):
        self.line, self.what = line, what


def _duplicate_keys(root: Node, shown_as: str) -> list[Problem]:
    """Find keys written twice in one mapping, before construction flattens merges away."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()  # anchors/aliases make the node graph a DAG, visit each node once

    def walk(node: Node, path: str) -> None:
        if id(node) in seen_nodes:
            return
        seen_nodes.add(id(node))
        if isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]")
        elif isinstance(node, MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                name = key_node.value if isinstance(key_node, ScalarNode) else "?"
                if isinstance(key_node, ScalarNode):
                    ident = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    if ident in first_line:
                        problems.append(Problem(shown_as, line, path or "top level",
                                                f"duplicate key '{name}' (first at line {first_line[ident]})"))
                    else:
                        first_line[ident] = line
                walk(value_node, f"{path}.{name}" if path else str(name))

    walk(root, "")
    return problems
