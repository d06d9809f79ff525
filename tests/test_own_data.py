"""`--data-root` and `--dataset-param` reach the dataset (validated with the recipe) on train and bench."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from kdtaxonomy.cli import app

from .conftest import CATALOG
from .test_datasets import make_wav_folder

TINY = ["--max-steps", "5", "--format", "json"]


def test_train_on_a_wav_folder_from_the_cli(tmp_path: Path) -> None:
    root = make_wav_folder(tmp_path / "wavs", per_class=20)
    args = [
        "--catalog",
        str(CATALOG),
        "train",
        "park2019-rkd",
        "--dataset",
        "wav-folder",
        "--data-root",
        str(root),
    ]
    result = CliRunner().invoke(app, [*args, *TINY])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["provenance"]["recipe"]["dataset"] == {
        "component": "wav-folder",
        "params": {"root": str(root)},
    }
    assert 0 <= data["student_accuracy"] <= 100


def test_dataset_parameters_are_validated_with_a_clear_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--dataset", "wav-folder"]
    )
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: park2019-rkd#main: recipe: dataset.params.root: Field required"
    unknown = runner.invoke(
        app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--dataset-param", "colour=blue", *TINY]
    )
    assert unknown.exit_code == 1 and "dataset.params.colour" in unknown.stderr
    bench = runner.invoke(
        app,
        [
            "--catalog",
            str(CATALOG),
            "bench",
            "park2019-rkd",
            "--dataset",
            "wav-folder",
            "--results",
            str(tmp_path),
        ],
    )
    assert bench.exit_code == 1 and "dataset.params.root: Field required" in bench.stderr
    assert not list(tmp_path.iterdir())
    retired = runner.invoke(
        app,
        [
            *["--catalog", str(CATALOG), "train", "park2019-rkd", "--dataset", "wav-folder"],
            *["--data-root", str(tmp_path), "--dataset-param", "n_bands=16", *TINY],
        ],
    )
    assert retired.exit_code == 1
    assert retired.stderr.strip().endswith(
        "dataset.params: n_bands was renamed n_mels: wav-folder features are now log-mel spectrograms (librosa)"
    )


def test_plain_kd_is_catalogued_and_runs_on_any_pair() -> None:
    import torch
    from torch import nn

    import kdtaxonomy
    from kdtaxonomy.data import ArrayData

    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(40, 64), nn.ReLU(), nn.Linear(64, 10))
    student = nn.Sequential(nn.Flatten(), nn.Linear(40, 16), nn.ReLU(), nn.Linear(16, 10))
    before = [p.detach().clone() for p in student.parameters()]
    distiller = kdtaxonomy.instantiate(
        "hinton2015-distilling", config="plain", teacher=teacher, student=student
    )
    assert [k.component for k in distiller.knowledge] == ["soft-label-kd"]
    data = ArrayData(x=torch.randn(64, 1, 40), y=torch.randint(0, 10, (64,)), index=torch.arange(64))
    assert distiller.fit(data, steps=3, batch_size=32)[0].steps == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, student.parameters(), strict=True))
    assert all(p.grad is None or not p.requires_grad for p in teacher.parameters())  # the teacher is frozen


def test_train_on_an_image_folder_with_2d_models(tmp_path: Path) -> None:
    import numpy as np

    from .test_datasets import write_pgm

    rng = np.random.default_rng(0)
    for split, count in {"train": 20, "test": 6}.items():
        for label, cls in enumerate(["cat", "dog"]):
            folder = tmp_path / "imgs" / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                write_pgm(
                    folder / f"{i}.pgm", np.clip(60 + 120 * label + rng.integers(-30, 30, (10, 12)), 0, 255)
                )
    args = ["--catalog", str(CATALOG), "train", "park2019-rkd", "--dataset", "image-folder"]
    args += [
        "--data-root",
        str(tmp_path / "imgs"),
        "--teacher-model",
        "cnn2d",
        "--student-model",
        "cnn2d:tiny",
    ]
    result = CliRunner().invoke(app, [*args, *TINY])
    assert result.exit_code == 0, result.stderr
    recipe = json.loads(result.stdout)["provenance"]["recipe"]
    assert recipe["student_model"] == {"component": "cnn2d", "params": {"size": "tiny"}}
    assert recipe["teacher"]["params"]["model"] == "cnn2d"
    wrong = CliRunner().invoke(app, [*args[:-4], "--student-model", "cnn3d", *TINY])
    assert wrong.exit_code == 1 and "cnn3d" in wrong.stderr and "Traceback" not in wrong.stderr


def test_a_flat_image_folder_is_split_per_class_with_a_fixed_seed(tmp_path: Path) -> None:
    import numpy as np

    from kdtaxonomy.datasets import build_dataset

    from .test_datasets import write_pgm

    for label, cls in enumerate(["cat", "dog", "owl"]):
        (tmp_path / cls).mkdir()
        for i in range(10):
            write_pgm(tmp_path / cls / f"{i}.pgm", np.full((6, 6), 40 * label + i))
    bundle = build_dataset("image-folder", {"root": str(tmp_path), "image_size": 6, "standardize": False})
    assert len(bundle.train) == 24 and len(bundle.test) == 6  # 2 of 10 per class held out
    assert [int((bundle.test.y == c).sum()) for c in range(3)] == [2, 2, 2]
    again = build_dataset("image-folder", {"root": str(tmp_path), "image_size": 6, "standardize": False})
    assert torch.equal(bundle.test.x, again.test.x)  # the split does not depend on the run
    other = build_dataset(
        "image-folder", {"root": str(tmp_path), "image_size": 6, "standardize": False, "split_seed": 1}
    )
    assert not torch.equal(bundle.test.x, other.test.x)
    assert set(bundle.test.x.flatten().tolist()).isdisjoint(bundle.train.x.flatten().tolist())


def _flat_image_folder(root: Path, per_class: int = 12) -> Path:
    import numpy as np

    from .test_datasets import write_pgm

    rng = np.random.default_rng(1)
    for label, cls in enumerate(["cat", "dog"]):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            write_pgm(
                root / cls / f"{i}.pgm", np.clip(60 + 120 * label + rng.integers(-30, 30, (8, 8)), 0, 255)
            )
    return root


def test_train_rkd_on_a_flat_image_folder_from_the_cli(tmp_path: Path) -> None:
    root = _flat_image_folder(tmp_path / "imgs")
    args = ["--catalog", str(CATALOG), "train", "park2019-rkd", "--dataset", "image-folder"]
    args += ["--data-root", str(root), "--teacher-model", "cnn2d", "--student-model", "cnn2d:tiny"]
    result = CliRunner().invoke(app, [*args, *TINY])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dataset"]["splits"]["layout"] == "flat"
    assert data["dataset"]["num_train"] + data["dataset"]["num_test"] == 24
    assert data["dataset"]["skipped_files"] == []


def test_bad_files_fail_naming_the_file_or_are_skipped_and_reported(tmp_path: Path) -> None:
    root = _flat_image_folder(tmp_path / "imgs")
    bad = root / "dog" / "5.pgm"
    bad.write_bytes(bad.read_bytes()[:-10])  # truncated pixel data
    args = ["--catalog", str(CATALOG), "train", "park2019-rkd", "--dataset", "image-folder"]
    args += ["--data-root", str(root), "--teacher-model", "cnn2d", "--student-model", "cnn2d:tiny"]
    failed = CliRunner().invoke(app, [*args, *TINY])
    assert failed.exit_code == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and lines[0].endswith("truncated pixel data"), lines
    skipped = CliRunner().invoke(app, [*args, "--skip-bad-files", *TINY])
    assert skipped.exit_code == 0, skipped.stderr
    data = json.loads(skipped.stdout)
    assert data["dataset"]["num_train"] + data["dataset"]["num_test"] == 23
    assert [s["file"] for s in data["dataset"]["skipped_files"]] == [str(bad)]
    assert f"skipped 1 unreadable file(s): {bad}" in skipped.stderr


def test_a_truncated_wav_gets_a_reason_and_can_be_skipped(tmp_path: Path) -> None:
    root = make_wav_folder(tmp_path / "wavs", per_class=8)
    clip = root / "sine" / "sine4.wav"
    clip.write_bytes(clip.read_bytes()[:30])  # cut inside the header
    args = ["--catalog", str(CATALOG), "train", "park2019-rkd", "--dataset", "wav-folder"]
    args += ["--data-root", str(root)]
    failed = CliRunner().invoke(app, [*args, *TINY])
    assert failed.exit_code == 1
    line = failed.stderr.strip()
    assert "\n" not in line and f"cannot read sound file {clip}: " in line
    assert not line.endswith(": "), line  # never an empty reason
    bench = CliRunner().invoke(
        app,
        [
            "--catalog",
            str(CATALOG),
            "bench",
            "park2019-rkd",
            "--dataset",
            "wav-folder",
            "--data-root",
            str(root),
            "--skip-bad-files",
            "--seeds",
            "1",
            "--max-steps",
            "3",
            "--results",
            str(tmp_path / "results"),
        ],
    )
    assert bench.exit_code == 0, bench.stderr + bench.stdout
    assert f"skipped 1 unreadable file(s): {clip}" in bench.stdout + bench.stderr


def test_train_with_an_output_folder_saves_the_student_and_it_loads_back(tmp_path: Path) -> None:
    import kdtaxonomy
    from kdtaxonomy.datasets import build_dataset
    from kdtaxonomy.train import accuracy

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "--catalog",
            str(CATALOG),
            "train",
            "hinton2015-distilling",
            "--config",
            "plain",
            "-o",
            str(out),
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["student_weights"] == str(out / "student.safetensors")
    sidecar = json.loads((out / "student.safetensors.json").read_text())
    assert sidecar["model"]["key"] == "cnn1d" and sidecar["method"]["configuration"] == "plain"
    assert sidecar["metrics"]["test_accuracy"] == data["student_accuracy"]
    student = kdtaxonomy.load_student(out / "student.safetensors")  # rebuilt from the sidecar
    test = build_dataset("mnist1d").test
    assert accuracy(student, test, view="x", device=torch.device("cpu")) == data["student_accuracy"]


def test_bench_on_own_data_never_replaces_runs_on_another_dataset(tmp_path: Path) -> None:
    from .conftest import ROOT

    committed = ROOT / "results" / "cho2023-area-rkd" / "audio-angle" / "seed-0.json"
    results = tmp_path / "results"
    target = results / "cho2023-area-rkd" / "audio-angle" / "seed-0.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(committed.read_bytes())
    root = make_wav_folder(tmp_path / "wavs", per_class=8)
    args = ["--catalog", str(CATALOG), "bench", "cho2023-area-rkd", "--config", "audio-angle"]
    args += ["--dataset", "wav-folder", "--data-root", str(root), "--seeds", "1", "--max-steps", "3"]
    refused = CliRunner().invoke(app, [*args, "--results", str(results)])
    assert refused.exit_code == 1
    assert "holds runs on dataset 'mnist1d'" in refused.stderr and "give --results DIR" in refused.stderr
    assert target.read_bytes() == committed.read_bytes()
    elsewhere = CliRunner().invoke(app, [*args, "--results", str(tmp_path / "mine")])
    assert elsewhere.exit_code == 0, elsewhere.stderr
    assert (tmp_path / "mine" / "cho2023-area-rkd" / "audio-angle" / "seed-0.json").is_file()
