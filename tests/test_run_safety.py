"""Runs never mix and mistakes are one line: folders checked before any work, run.json, Ctrl-C, divergence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdtaxonomy.cli import app
from kdtaxonomy.folders import MANIFEST, readable_dir, writable_dir

from .conftest import CATALOG

QUICK = ["--max-steps", "4", "--batch-size", "64", "--format", "json"]


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


def _one_error_line(result: object, *fragments: str) -> None:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.exit_code == 1, (result.exit_code, stderr)  # type: ignore[attr-defined]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_folder_checks(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    assert writable_dir(tmp_path / "new" / "deeper", "--out") is None
    assert not (tmp_path / "new").exists()  # nothing created by the check
    assert writable_dir(a_file, "--out") == f"--out {a_file}: is a file, not a folder"
    assert (
        writable_dir(a_file / "sub", "--out") == f"--out {a_file / 'sub'}: {a_file} is a file, not a folder"
    )
    assert (
        readable_dir(tmp_path / "missing", "--data-root")
        == f"--data-root {tmp_path / 'missing'}: does not exist"
    )
    assert readable_dir(a_file, "--data-root") == f"--data-root {a_file}: is a file, not a folder"
    assert readable_dir(tmp_path, "--data-root") is None
    assert a_file.read_text() == "keep me"


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        (["--out", "{file}"], {}, ["--out", "is a file, not a folder"]),
        (["--out", "{file}/sub"], {}, ["--out", "is a file, not a folder"]),
        (["--data-root", "{tmp}/missing"], {}, ["--data-root", "does not exist"]),
        ([], {"KDTAX_CACHE_DIR": "{file}/cache"}, ["cache folder", "is a file, not a folder"]),
    ],
)
def test_train_path_mistakes_are_one_line_before_any_work(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    fragments: list[str],
) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    fill = {"file": str(a_file), "tmp": str(tmp_path)}
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(**fill))
    before = _snapshot(tmp_path)
    started = time.perf_counter()
    result = CliRunner().invoke(
        app, ["--catalog", str(CATALOG), "train", "park2019-rkd", *[a.format(**fill) for a in args], *QUICK]
    )
    _one_error_line(result, *fragments)
    assert time.perf_counter() - started < 30  # refused before a teacher is trained
    assert _snapshot(tmp_path) == before and a_file.read_text() == "keep me"


def test_bench_results_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "results"
    a_file.write_text("keep me")
    result = CliRunner().invoke(
        app, ["--catalog", str(CATALOG), "bench", "park2019-rkd", "--results", str(a_file), "--seeds", "1"]
    )
    _one_error_line(result, "--results", "is a file, not a folder")
    result = CliRunner().invoke(app, ["bench", "--suite", "standard", "--quick", "--results", str(a_file)])
    _one_error_line(result, "--results", "is a file, not a folder")
    assert a_file.read_text() == "keep me"


def test_a_folder_of_another_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    runner = CliRunner()
    first = runner.invoke(
        app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--out", str(out), *QUICK]
    )
    assert first.exit_code == 0, first.stderr
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == "kdtax-run/1" and manifest["id"] == "park2019-rkd"
    assert manifest["recipe_hash"] == json.loads(first.stdout)["provenance"]["recipe_hash"]
    before = _snapshot(out)
    for resume in (["--resume"], []):
        other = runner.invoke(
            app, ["--catalog", str(CATALOG), "train", "ahn2019-vid", "--out", str(out), *resume, *QUICK]
        )
        _one_error_line(other, f"--out {out}: holds a run of another recipe (park2019-rkd#")
    reseeded = runner.invoke(
        app,
        [
            "--catalog",
            str(CATALOG),
            "train",
            "park2019-rkd",
            "--out",
            str(out),
            "--resume",
            *QUICK,
            "--seed",
            "5",
        ],
    )
    _one_error_line(reseeded, "other settings (seed 0 -> 5)")
    assert _snapshot(out) == before
    again = runner.invoke(
        app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--out", str(out), "--resume", *QUICK]
    )
    assert again.exit_code == 0, again.stderr


def test_resume_into_checkpoints_without_a_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "teacher.ckpt").write_bytes(b"not ours")
    result = CliRunner().invoke(
        app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--out", str(tmp_path), "--resume", *QUICK]
    )
    _one_error_line(result, "holds checkpoints but no run.json")


def test_ctrl_c_stops_cleanly_and_says_how_to_continue(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "park2019-rkd", "--out", str(out), "--teacher-steps", "400", "--steps", "20"]
    args += ["--no-cache", "--format", "json"]
    command = [sys.executable, "-m", "kdtaxonomy.cli", "--catalog", str(CATALOG), *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list(out.glob("*.ckpt")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: teacher: interrupted after step" in stderr
    hint = next(line for line in stderr.splitlines() if line.startswith("continue with: kdtax "))
    assert hint.endswith(" --resume") and f"--out {out}" in hint
    state = json.loads((out / MANIFEST).read_text())
    assert state["id"] == "park2019-rkd"
    again = subprocess.run(
        [*command, "--resume"], capture_output=True, text=True, timeout=600, env={**os.environ}
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["teacher_accuracy"] > 0


def test_cache_entries_say_what_they_are(tmp_path: Path) -> None:
    cache = Path(os.environ["KDTAX_CACHE_DIR"]) / "models"
    result = CliRunner().invoke(
        app, ["--catalog", str(CATALOG), "train", "park2019-rkd", *QUICK, "--seed", "11"]
    )
    assert result.exit_code == 0, result.stderr
    recipe_hash = json.loads(result.stdout)["provenance"]["recipe_hash"]
    records = [json.loads(p.read_text()) for p in cache.glob("*.json")]
    mine = [r for r in records if r["recipe_hash"] == recipe_hash]
    assert {r["model"] for r in mine} >= {"teacher", "student alone"}
    for record in mine:
        assert (cache / f"{record['key']}.pt").is_file()
        assert len(record["data_digest"]) == 20 and record["kdtaxonomy"] and record["torch"]


def test_a_diverged_teacher_fails_and_is_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDTAX_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    recipe = tmp_path / "lr.yaml"
    composed = runner.invoke(
        app, ["--catalog", str(CATALOG), "compose", "--knowledge", "soft-labels", "--transfer", "permuted"]
    )
    assert composed.exit_code == 0
    recipe.write_text(composed.stdout + "implementation:\n  training:\n    lr: 1.0e+12\n")
    result = runner.invoke(
        app,
        [
            "--catalog",
            str(CATALOG),
            "train",
            "--recipe",
            str(recipe),
            "--teacher-steps",
            "100",
            "--steps",
            "5",
        ],
    )
    assert result.exit_code == 1, result.output
    assert (
        "teacher diverged: its best validation accuracy" in result.stderr
        and "nothing was cached" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "cache").rglob("*.pt"))


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    from kdtaxonomy.yamlio import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    out = CliRunner().invoke(app, ["--catalog", str(CATALOG), "schema", "-o", str(tmp_path / "s.json")])
    assert out.exit_code == 0
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o666 & ~old


def test_a_missing_optional_dependency_is_one_line() -> None:
    import importlib.util

    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed here")
    result = CliRunner().invoke(
        app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--dataset", "cifar", *QUICK]
    )
    _one_error_line(result, "needs the package torchvision")
