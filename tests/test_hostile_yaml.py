"""Hostile catalog input is bounded (issue 12): alias bombs, oversized values, garbage bytes, code tags.

The bounds this file states and asserts:

* The alias bomb (``BOMB_LEVELS`` = 8 levels of ``BOMB_WIDTH`` = 9 aliases: under 1 KB of YAML, 9**8 = 43
  million strings once expanded) goes through ``kdtax validate FILE`` in a fresh interpreter limited to
  ``ADDRESS_SPACE`` = 2 GiB: exit 1 and one ``error: FILE:1:`` line in under ``CLI_BOUND_S`` = 10 s wall
  (interpreter start included; the refusal itself takes milliseconds).
* Every limit of :mod:`kdtaxonomy.yamlio` (size, nesting depth, node count, string length, integer length)
  and every kind of garbage (aliases, non-UTF-8, NUL, not a mapping, two documents, bad typed scalars) gives
  exactly one ``FILE:line: reason`` problem, never a traceback.
* Fuzzing with hypothesis, derandomized (the same examples on every run, no example database):
  ``TEXT_EXAMPLES`` = 300 documents assembled from YAML fragments, and ``MUTATION_EXAMPLES`` = 5 byte-level
  mutations (flip, insert, delete, duplicate) of each shipped ``catalog/methods/*.yaml`` entry. Each input
  goes through the in-process validation path of ``kdtax validate`` (``validate_paths``) within
  ``PER_INPUT_S`` = 2 s, raises nothing (``read_document`` raises only ``YamlError``) and runs no code: the
  ``!!python/...`` payloads among the fragments would create ``MARKER``, which must never exist.
* ``CLI_CASES`` = 20 mutated entries (fixed seed) through the real CLI, each in a subprocess under the 2 GiB
  address-space limit: exit 0 or 1 within ``CLI_BOUND_S``, no traceback, and every stderr line is an
  ``error:`` line or the final ``N problem(s) found``.

The whole file takes about 20-30 s on a busy 2-core machine (bound: 60 s).
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kdtaxonomy.catalog import default_vocabulary_path, read_vocabulary, validate_paths
from kdtaxonomy.cli import app
from kdtaxonomy.vocabulary import Vocabulary
from kdtaxonomy.yamlio import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_NODES,
    MAX_STRING,
    YamlError,
    parse_bytes,
    read_document,
)

from .conftest import CATALOG, ROOT

BOMB_LEVELS = 8
BOMB_WIDTH = 9
CLI_BOUND_S = 10.0
PER_INPUT_S = 2.0
TEXT_EXAMPLES = 300
MUTATION_EXAMPLES = 5
CLI_CASES = 20
ADDRESS_SPACE = 2 * 1024**3
SHIPPED = sorted((CATALOG / "methods").glob("*.yaml"))
MARKER = Path(tempfile.gettempdir()) / f"kdtax-hostile-yaml-{os.getpid()}.marker"
ALIAS_REASON = "aliases are not allowed in catalog files"


def payloads(marker: Path) -> list[str]:
    """Tags that run ``touch marker`` under an unsafe loader."""
    return [
        f"!!python/object/apply:os.system [touch {marker}]",
        f"!!python/object/apply:subprocess.call [[touch, {marker}]]",
        f"!!python/object/new:subprocess.Popen [[touch, {marker}]]",
    ]


def alias_bomb(levels: int = BOMB_LEVELS, width: int = BOMB_WIDTH) -> str:
    """``levels`` anchored lists of ``width`` aliases to the previous one: ``width**levels`` leaves."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def limited_address_space() -> None:
    """``preexec_fn`` of the CLI subprocesses: at most ``ADDRESS_SPACE`` bytes of virtual memory."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_cli(path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kdtaxonomy.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=3 * CLI_BOUND_S,
        cwd=ROOT,
        preexec_fn=limited_address_space,
    )
    return result, time.perf_counter() - start


def assert_clean_stderr(stderr: str) -> None:
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.split("\n") if ln]
    for number, line in enumerate(lines, 1):
        is_summary = number == len(lines) and line.endswith(" problem(s) found")
        assert line.startswith("error: ") or is_summary, stderr


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return read_vocabulary(default_vocabulary_path())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(autouse=True)
def _no_marker() -> None:
    MARKER.unlink(missing_ok=True)


# --- the alias bomb ---------------------------------------------------------------------------------------


def test_alias_bomb_is_small() -> None:
    assert len(alias_bomb().encode()) < 1024


def test_alias_bomb_is_refused_quickly_by_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    result, elapsed = run_cli(path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert elapsed < CLI_BOUND_S
    assert_clean_stderr(result.stderr)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: {path}:1: {ALIAS_REASON}"]


def test_alias_bomb_is_refused_in_milliseconds() -> None:
    start = time.perf_counter()
    with pytest.raises(YamlError) as caught:
        parse_bytes(alias_bomb().encode())
    assert time.perf_counter() - start < 0.5
    assert (caught.value.reason, caught.value.line) == (ALIAS_REASON, 1)


# --- each limit and each kind of garbage: one FILE:line: reason problem -----------------------------------


def _nested_block(levels: int) -> str:
    return "".join(f"{'  ' * i}k:\n" for i in range(levels)) + "  " * levels + "leaf\n"


# name -> (file content, expected line or None, expected reason)
CASES: dict[str, tuple[bytes, int | None, str]] = {
    "anchor-only": (b"id: x\ntitle: &t T\n", 2, ALIAS_REASON),
    "alias": (b"id: x\ntitle: T\nvenue: *t\n", 3, ALIAS_REASON),
    "merge-alias": (b"base: &b {year: 1}\nid: {<<: *b}\n", 1, ALIAS_REASON),
    "nodes": (
        b"id: x\nnotes:\n" + b"- 0\n" * MAX_NODES,
        MAX_NODES - 2,  # 5 nodes (mapping, id, x, notes, list) before the items, which start at line 3
        f"more than {MAX_NODES:,} YAML nodes (keys, values, lists and mappings); the limit is {MAX_NODES:,}",
    ),
    "string": (
        b"id: x\ntitle: " + b"t" * (MAX_STRING + 1) + b"\n",
        2,
        f"a string of {MAX_STRING + 1:,} characters; the limit is {MAX_STRING:,}",
    ),
    "block-depth": (
        _nested_block(MAX_DEPTH + 5).encode(),
        MAX_DEPTH + 1,
        f"nesting deeper than {MAX_DEPTH} levels",
    ),
    "dash-depth": (
        b"id: x\nlist:\n- " + b"- " * (MAX_DEPTH + 5) + b"x\n",
        3,
        f"nesting deeper than {MAX_DEPTH} levels",
    ),
    "huge-int": (
        b"id: x\nyear: " + b"9" * 5000 + b"\n",
        2,
        f"an integer of 5,000 characters; the limit is {MAX_INT_DIGITS}",
    ),
    "huge-hex": (
        b"id: x\nyear: 0x" + b"f" * 5000 + b"\n",
        2,
        f"an integer of 5,002 characters; the limit is {MAX_INT_DIGITS}",
    ),
    "non-utf8": (b"id: x\n\ntitle: caf\xe9\n", 3, "not UTF-8: byte 0xe9 at offset 17"),
    "nul": (b"id: x\ntitle: a\x00b\n", 2, "character U+0000 is not allowed in YAML (column 9)"),
    "escape": (b"id: x\ntitle: a\x1b[31mb\n", 2, "character U+001B is not allowed in YAML (column 9)"),
    "not-a-mapping": (b"- id: x\n- title: T\n", 1, "top level must be a mapping of fields, not list"),
    "scalar": (b"just words\n", 1, "top level must be a mapping of fields, not str"),
    "two-documents": (
        b"id: x\n---\nid: y\n",
        2,
        "more than one YAML document (one catalog file holds one entry)",
    ),
    "bad-int-tag": (b"id: x\nyear: !!int twenty\n", 2, "cannot read 'twenty' as !!int"),
    "bad-bool-tag": (b"id: x\nopen: !!bool maybe\n", 2, "cannot read 'maybe' as !!bool"),
    "empty-int-tag": (b"id: x\nyear: !!int ''\n", 2, "cannot read '' as !!int"),
    "bad-date": (b"id: x\ndate: 2021-02-30\n", 2, "cannot read '2021-02-30' as !!timestamp"),
    "bad-timestamp-tag": (b"id: x\ndate: !!timestamp soon\n", 2, "cannot read 'soon' as !!timestamp"),
    "python-tag": (
        f"id: x\ntitle: {payloads(MARKER)[0]}\n".encode(),
        2,
        "YAML tag '!!python/object/apply:os.system' refused",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_gives_one_clean_problem(runner: CliRunner, tmp_path: Path, name: str) -> None:
    content, line, reason = CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    where = f"{path}:{line}" if line else str(path)
    assert errors[0].startswith(f"error: {where}: {reason}"), (errors[0], reason)
    assert not MARKER.exists()


def test_oversized_file_names_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"id: x\nnotes: '" + b"n" * MAX_BYTES + b"'\n")
    with pytest.raises(YamlError) as caught:
        read_document(path)
    assert caught.value.reason == f"file is {path.stat().st_size:,} bytes; the limit is {MAX_BYTES:,}"


def test_limits_admit_the_shipped_catalog() -> None:
    for path in SHIPPED:
        read_document(path)


def test_limits_are_exact(tmp_path: Path) -> None:
    """Values right at each limit are accepted."""
    at_limit = {
        "nodes": b"- 0\n" * (MAX_NODES - 1),  # plus the list itself
        "string": b"t: " + b"t" * MAX_STRING + b"\n",
        "depth": _nested_block(MAX_DEPTH - 1).encode(),
        "integer": b"n: " + b"9" * MAX_INT_DIGITS + b"\n",
    }
    for name, content in at_limit.items():
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(content)
        read_document(path)


def test_payload_would_run_under_an_unsafe_loader(tmp_path: Path) -> None:
    """The marker payloads are real: only the safe reader keeps them from running."""
    marker = tmp_path / "ran"
    yaml.unsafe_load(f"x: {payloads(marker)[0]}\n")
    assert marker.exists()


# --- fuzzing ----------------------------------------------------------------------------------------------

FRAGMENTS = [
    "id: fuzz\n",
    "title: T\n",
    "key",
    ": ",
    "- ",
    "? ",
    "\n",
    "  ",
    "\t",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "&a ",
    "*a",
    "&b [*a, *a, *a]\n",
    "<<: *a\n",
    "<<: {year: 1}\n",
    *payloads(MARKER),
    "!!python/name:os.system",
    "%TAG !p! tag:yaml.org,2002:python/\n",
    f"!p!object/apply:os.system [touch {MARKER}]",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!str ",
    "!custom ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "'quoted'",
    '"esc\\x00\\u2028"',
    "|\n  block\n",
    ">-\n  folded\n",
    "# comment\n",
    "2021-02-30",
    "0x" + "f" * 60,
    "9" * 5000,
    "1e400",
    ".nan",
    "~",
    "yes",
    "é",
    "日本語",
    "\U0001f600",
    "\u2028",
    "\x85",
    "\ufeff",
    "\x00",
    "\x1b",
    "\r",
    "[" * 30,
    "]" * 30,
    "- " * 30,
    "  " * 60,
    alias_bomb(3, 5),
]

# printable text: the control characters come from FRAGMENTS, rarely enough that most inputs get parsed
WORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=4)
SOUP = st.lists(st.one_of(st.sampled_from(FRAGMENTS), WORDS), max_size=40).map("".join)
# entry-shaped documents: each line is (dedent, dash, key, value); a line without a value opens a block that
# the next line indents into, so most of these get past the parser to the constructor and the schema
KEYS = st.sampled_from(["id", "title", "year", "authors", "configurations", "results", "<<", "? k"])
LINES = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from([False, False, False, True]),
        st.one_of(KEYS, WORDS),
        st.one_of(st.none(), st.sampled_from(FRAGMENTS), WORDS),
    ),
    max_size=30,
)


def render_entry(lines: list[tuple[int, bool, str, str | None]]) -> str:
    text, depth = "id: fuzz\n", 0
    for dedent, dash, key, value in lines:
        depth = max(depth - dedent, 0)
        text += "  " * depth + ("- " if dash else "") + f"{key}:" + ("\n" if value is None else f" {value}\n")
        depth += (value is None) + dash
    return text


ENTRY_LIKE = LINES.map(render_entry)
DOCUMENTS = st.one_of(SOUP, ENTRY_LIKE)

MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(("flip", "insert", "delete", "duplicate")),
        st.floats(0, 1, exclude_max=True),
        st.integers(0, 255),
        st.integers(1, 64),
    ),
    min_size=1,
    max_size=8,
)
TOKENS = [b"&a ", b"*a", b"\x00", b"\xff", b"\xc3", b"\t", b"[", b"{", b"- ", b"\n  ", b"!!int ", b"---\n"]

Mutation = tuple[str, float, int, int]


def mutate(raw: bytes, ops: list[Mutation]) -> bytes:
    """Apply byte-level mutations; positions are fractions of the current length."""
    data = bytearray(raw)
    for kind, where, value, length in ops:
        pos = int(where * len(data))
        if kind == "flip" and data:
            data[pos] ^= 1 << (value % 8)
        elif kind == "insert":
            data[pos:pos] = bytes([value]) if value < 128 else TOKENS[value % len(TOKENS)]
        elif kind == "delete":
            del data[pos : pos + length]
        elif kind == "duplicate":
            data[pos:pos] = data[pos : pos + length]
    return bytes(data)


def random_mutations(rng: random.Random) -> list[Mutation]:
    kinds = ("flip", "insert", "delete", "duplicate")
    return [
        (rng.choice(kinds), rng.random(), rng.randrange(256), rng.randrange(1, 65))
        for _ in range(rng.randrange(1, 9))
    ]


def check_in_process(path: Path, content: bytes, vocabulary: Vocabulary) -> None:
    """The in-process path of ``kdtax validate``: bounded time, documented errors only, nothing executed."""
    path.write_bytes(content)
    start = time.perf_counter()
    try:
        read_document(path)
    except YamlError as exc:
        assert exc.reason and "\n" not in exc.reason
        assert exc.line is None or exc.line >= 1
    entries, problems = validate_paths([path], vocabulary)
    assert time.perf_counter() - start < PER_INPUT_S
    assert entries or problems
    assert not MARKER.exists()


FUZZ = settings(
    max_examples=TEXT_EXAMPLES,
    deadline=PER_INPUT_S * 1000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(text=DOCUMENTS)
def test_fuzz_generated_documents(text: str, workdir: Path, vocabulary: Vocabulary) -> None:
    check_in_process(workdir / "fuzz.yaml", text.encode("utf-8"), vocabulary)


@pytest.mark.parametrize("entry", SHIPPED, ids=[p.stem for p in SHIPPED])
@settings(FUZZ, max_examples=MUTATION_EXAMPLES)
@given(ops=MUTATIONS)
def test_fuzz_mutated_shipped_entry(
    entry: Path, ops: list[Mutation], workdir: Path, vocabulary: Vocabulary
) -> None:
    check_in_process(workdir / entry.name, mutate(entry.read_bytes(), ops), vocabulary)


def test_mutated_entries_through_the_cli(tmp_path: Path) -> None:
    rng = random.Random(12)
    for case in range(CLI_CASES):
        entry = SHIPPED[case * 7 % len(SHIPPED)]
        path = tmp_path / str(case) / entry.name
        path.parent.mkdir()
        path.write_bytes(mutate(entry.read_bytes(), random_mutations(rng)))
        result, elapsed = run_cli(path)
        assert result.returncode in {0, 1}, (path, result.stderr[-2000:])
        assert elapsed < CLI_BOUND_S
        assert_clean_stderr(result.stderr)
        assert not MARKER.exists()
