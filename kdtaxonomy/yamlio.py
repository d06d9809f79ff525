"""Safe YAML reading for catalog files: no code execution, stated limits, duplicate keys and line numbers.

Only ``yaml.SafeLoader`` constructors are used (libyaml's C parser when available), so tags that would
import or call Python (``!!python/object``, ``!!python/name``) are rejected. Before anything is composed or
constructed, the text and then the parser's event stream are scanned: anchors and aliases are refused (an
entry needs none, and an alias bomb of under 1 KB expands to millions of nodes), as are characters YAML
does not allow (NUL and other control characters) and a second document. Limits, each a constant below:

* ``MAX_BYTES``: file size;
* ``MAX_DEPTH``: nesting of mappings and sequences (``MAX_INDENT``: indentation, guarding the parser);
* ``MAX_NODES``: total node count (keys, values, lists and mappings);
* ``MAX_STRING``: longest scalar (key or value), in characters;
* ``MAX_INT_DIGITS``: longest integer literal, in characters.

Every failure is a :class:`YamlError` with a one-line reason naming what was exceeded and, when known, the
line; the caller adds the file name. Duplicate mapping keys are refused and the line of every mapping key
is recorded so validation errors can point at a line.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

MAX_BYTES = 1_000_000
"""Largest catalog file accepted (bytes)."""
MAX_DEPTH = 40
"""Deepest nesting of mappings/sequences accepted (the shipped entries nest 8 deep)."""
MAX_INDENT = 400
"""Deepest indentation accepted (columns), checked on the raw text before the parser sees it."""
MAX_NODES = 100_000
"""Most YAML nodes (keys, values, lists, mappings) in one file; the largest shipped entry has about 5,000."""
MAX_STRING = 100_000
"""Longest scalar (key or value) accepted, in characters; the longest shipped one has about 2,800."""
MAX_INT_DIGITS = 40
"""Longest integer literal accepted (characters, sign and ``0x`` included): Python refuses to print ints
of over 4,300 digits, and converting long decimal literals is quadratic."""

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Loc = tuple[str | int, ...]

_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")


class YamlError(ValueError):
    """A file that cannot be read as a catalog document; ``line`` is 1-based when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        reason = _LINE_BREAKS.sub(" ", reason).strip()
        super().__init__(reason)
        self.reason = reason
        self.line = line


@dataclass
class Document:
    """A parsed YAML document and the line of each key path."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """Line of the deepest known prefix of ``loc``."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """Safe loader that rejects duplicate keys and excessive nesting."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        if not isinstance(node, yaml.MappingNode):  # e.g. `!!set 0`: the base class reports it
            return super().construct_mapping(node, deep=deep)
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError as exc:
                raise YamlError("a mapping key must be a plain value", key_node.start_mark.line + 1) from exc
            if key in seen:
                raise YamlError(
                    f"duplicate key {key!r} (first at line {seen[key]})", key_node.start_mark.line + 1
                )
            seen[key] = key_node.start_mark.line + 1
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Construct one node; a scalar its tag cannot read (``!!int twenty``, ``2021-02-30``) is a YamlError."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as exc:
            if isinstance(exc, YamlError):
                raise
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            what = (
                repr(node.value)[:60] if isinstance(node, yaml.ScalarNode) else f"this {type(node).__name__}"
            )
            raise YamlError(f"cannot read {what} as {tag}", node.start_mark.line + 1) from exc

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer, refusing literals longer than ``MAX_INT_DIGITS`` before converting them."""
        if len(node.value) > MAX_INT_DIGITS:
            raise YamlError(
                f"an integer of {len(node.value):,} characters; the limit is {MAX_INT_DIGITS}",
                node.start_mark.line + 1,
            )
        value: int = super().construct_yaml_int(node)
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _depth_and_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            child = (*loc, key)
            lines[child] = key_node.start_mark.line + 1
            _depth_and_lines(value_node, child, lines, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*loc, index)
            lines[child] = item.start_mark.line + 1
            _depth_and_lines(item, child, lines, depth + 1)


_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*')
_BRACKETS = re.compile(r"[\[\]{}]")
# what YAML 1.1 calls printable (the set libyaml's reader accepts)
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _precheck_depth(text: str) -> None:
    """Reject nesting that could exhaust the parser's stack before handing the text to it."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_QUOTED.sub("", text)):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", line)
    for number, line_text in enumerate(text.splitlines(), 1):
        if len(line_text) - len(line_text.lstrip(" ")) > MAX_INDENT:
            raise YamlError(f"indentation deeper than {MAX_INDENT} columns", number)


def _precheck_characters(text: str) -> None:
    """Refuse characters YAML does not allow (NUL, other control characters) with their line and column."""
    match = _NOT_PRINTABLE.search(text)
    if match:
        line_start = text.rfind("\n", 0, match.start()) + 1
        raise YamlError(
            f"character U+{ord(match.group()):04X} is not allowed in YAML "
            f"(column {match.start() - line_start + 1})",
            text.count("\n", 0, match.start()) + 1,
        )


def _scan_events(text: str) -> None:
    """Check the parser's event stream before anything is composed: no anchors or aliases, one document,
    and the depth, node and string limits. Events are streamed, so memory stays proportional to the text."""
    documents = depth = nodes = 0
    for event in yaml.parse(text, Loader=_Base):  # the generator disposes of its parser
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise YamlError("more than one YAML document (one catalog file holds one entry)", line)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.NodeEvent):
            if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
                raise YamlError("aliases are not allowed in catalog files", line)
            if depth > MAX_DEPTH:
                raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", line)
            nodes += 1
            if nodes > MAX_NODES:
                raise YamlError(
                    f"more than {MAX_NODES:,} YAML nodes (keys, values, lists and mappings); "
                    f"the limit is {MAX_NODES:,}",
                    line,
                )
            if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_STRING:
                raise YamlError(
                    f"a string of {len(event.value):,} characters; the limit is {MAX_STRING:,}", line
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1


def parse_bytes(raw: bytes, *, want_lines: bool = True) -> Document:
    """Parse one catalog document from bytes, raising :class:`YamlError` with a one-line reason."""
    if len(raw) > MAX_BYTES:
        raise YamlError(f"file is {len(raw):,} bytes; the limit is {MAX_BYTES:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlError(f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}", line) from exc
    if not text.strip() or all(ln.lstrip().startswith("#") or not ln.strip() for ln in text.splitlines()):
        raise YamlError("file is empty")
    _precheck_characters(text)
    _precheck_depth(text)
    try:
        _scan_events(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise YamlError("file is empty")
            lines: dict[Loc, int] = {}
            _depth_and_lines(node, (), lines, 0)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except YamlError:
        raise
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        reason = exc.problem or str(exc)
        tag = re.search(r"tag '([^']+)'", reason)
        if tag:
            name = tag.group(1).replace("tag:yaml.org,2002:", "!!")
            reason = f"YAML tag {name!r} refused: only plain YAML is allowed, no tags that build objects"
        raise YamlError(reason, mark.line + 1 if mark else None) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlError(f"malformed YAML: {reason}", mark.line + 1 if mark else None) from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"malformed YAML: {exc}") from exc
    except RecursionError as exc:
        raise YamlError(f"nesting deeper than {MAX_DEPTH} levels") from exc
    return Document(data, lines if want_lines else {})


def read_document(path: Path) -> Document:
    """Read and parse a catalog YAML file."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise YamlError(f"file is {size:,} bytes; the limit is {MAX_BYTES:,}")
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror or exc}") from exc
    return parse_bytes(raw)


def _umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_writer(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write ``path`` atomically: a temporary file in the same directory replaces it on success. The file
    gets the permissions of a newly created one (0666 less the user's umask), not ``mkstemp``'s 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to ``path`` atomically."""
    with atomic_writer(path) as handle:
        handle.write(text)


def dump(data: Any) -> str:
    """YAML text of plain data, keys in insertion order."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
