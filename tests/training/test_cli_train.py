"""`studyllama train` end to end on CPU with the tiny random model, then `eval` of its adapter."""

import json
import subprocess
import sys

from safetensors.torch import load_file

from tests.training.conftest import SUBPROCESS_ENV


def run_cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "studyllama.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=SUBPROCESS_ENV)


def test_train_debug_then_eval_the_adapter(qa_corpus, tmp_path):
    out = tmp_path / "run"
    args = ["train", "model=tiny_random", "train=debug", "method=lora", "prompt=seed", f"data.path={qa_corpus}",
            "train.export_merged=true", f"hydra.run.dir={out}"]
    r = run_cli(args, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "trainable params: 37,184" in r.stdout and "best epoch" in r.stdout
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 4 and len(summary["history"]) == 2 and summary["n_train"] == 6
    assert summary["prompt"] == "seed" and summary["parameters"]["trainable"] == 37_184
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in rows].count("dev") == 2 and {"loss", "lr"} <= set(rows[0])
    assert (out / "curves.png").stat().st_size > 10_000
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert "step 4/4" in (out / "train.log").read_text()
    meta = json.loads((out / "best" / "studyllama.json").read_text())
    assert meta["prompt"] == "seed" and meta["method"]["r"] == 32 and meta["select_metric"] == "rougeL"
    assert all(".lora_" in k for k in load_file(out / "best" / "adapter_model.safetensors"))
    merged = load_file(out / "merged" / "model.safetensors")  # the best adapter merged: plain weights
    assert "lm_head.weight" in merged and not any("lora" in k for k in merged)
    assert (out / "merged" / "config.json").is_file() and (out / "merged" / "tokenizer.json").is_file()

    # The adapter evaluates through `eval` (dev split: the fixture's test split is empty).
    ev = ["eval", "model=tiny_random", "prompt=seed", f"data.path={qa_corpus}", "data.split=dev",
          "eval.max_new_tokens=8", "eval.progress=false", "eval.bootstrap_resamples=10", "judge=none"]
    r = run_cli([*ev, "method=lora", f"method.adapter={out / 'best'}", f"hydra.run.dir={tmp_path / 'ev'}"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["method"] == "lora"



def test_eval_train_first_trains_once_then_reuses_the_run(qa_corpus, tmp_path):
    """An ablation cell: `eval method=lora eval.train_first=true` trains into <run>/train, then evaluates;
    a rerun reuses the finished training; a run folder of other train settings is refused."""
    out = tmp_path / "cell"
    args = ["eval", "model=tiny_random", "method=lora", "prompt=seed", "train=debug", "eval.train_first=true",
            f"data.path={qa_corpus}", "data.split=dev", "eval.max_new_tokens=8", "eval.progress=false",
            "eval.bootstrap_resamples=10", "judge=none", f"hydra.run.dir={out}"]
    r = run_cli(args, tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "train" / "train_summary.json").read_text())
    assert summary["steps"] == 4 and summary["train_fingerprint"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "lora" and metrics["n"] == 2
    weights = (out / "train" / "best" / "adapter_model.safetensors").read_bytes()

    r = run_cli(args, tmp_path)  # rerun: nothing trained, answers reused
    assert r.returncode == 0, r.stderr
    log = (out / "eval.log").read_text()
    assert "reusing the finished run" in log and "2 reused from" in log
    assert (out / "train" / "best" / "adapter_model.safetensors").read_bytes() == weights

    r = run_cli([*args, "train.lr=0.5"], tmp_path)
    assert r.returncode != 0 and "holds a training run of other settings" in r.stderr


def test_cells_that_only_evaluate_differently_share_one_training(qa_corpus, tmp_path):
    """eval.train_dir: a second cell with the same training settings (here: another repetition penalty)
    reuses the first cell's training instead of training again."""
    trainings = tmp_path / "trainings"
    base = ["eval", "model=tiny_random", "method=lora", "prompt=seed", "train=debug", "eval.train_first=true",
            f"eval.train_dir={trainings}", f"data.path={qa_corpus}", "data.split=dev", "eval.max_new_tokens=8",
            "eval.progress=false", "eval.bootstrap_resamples=10", "judge=none"]
    r = run_cli([*base, f"hydra.run.dir={tmp_path / 'a'}"], tmp_path)
    assert r.returncode == 0, r.stderr
    (run,) = [p for p in trainings.iterdir() if p.is_dir()]
    assert (run / "train_summary.json").is_file() and not (tmp_path / "a" / "train").exists()
    r = run_cli([*base, "eval.repetition_penalty=1.5", f"hydra.run.dir={tmp_path / 'b'}"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "reusing the finished run" in (tmp_path / "b" / "eval.log").read_text()
    a, b = (json.loads((tmp_path / x / "metrics.json").read_text()) for x in ("a", "b"))
    assert a["adapter"] == b["adapter"] == str(run / "best")
    assert [p.name for p in trainings.iterdir() if p.is_dir()] == [run.name]
