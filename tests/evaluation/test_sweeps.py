"""Sweeps through Hydra: the ablation experiment, the joblib and SLURM launchers, the report callback."""

import importlib.util
import json
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from studyllama import CONF_DIR
from studyllama.config import register

register()


def _compose(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="eval", overrides=overrides, return_hydra_config=True)


CELLS = {"zero_shot_seed": ("zero_shot", "seed", "lima"), "zero_shot_chat": ("zero_shot", "chat", "lima"),
         "zero_shot_mindmap": ("zero_shot", "mindmap", "lima"), "lora_seed": ("lora", "seed", "lima"),
         "lora_chat": ("lora", "chat", "lima"), "lora_mindmap": ("lora", "mindmap", "lima"),
         "adapter_chat": ("adapter", "chat", "adapter"), "adapter_gnn_chat": ("adapter_gnn", "chat", "adapter"),
         # greedy with a repetition penalty: the stop test and its untuned control
         "lora_seed_rp": ("lora", "seed", "lima"), "lora_chat_rp": ("lora", "chat", "lima"),
         "zero_shot_seed_rp": ("zero_shot", "seed", "lima"), "zero_shot_chat_rp": ("zero_shot", "chat", "lima")}


def test_ablation_sweeps_every_method_by_prompt_cell_and_reports():
    cfg = _compose(["experiment=ablation"])
    assert sorted(cfg.hydra.sweeper.params.variant.split(",")) == sorted(CELLS)
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN" and cfg.eval.train_first and cfg.judge.name == "local"
    assert {"meteor", "embed_sim"} <= set(cfg.eval.metrics) and cfg.eval.max_new_tokens == 512
    assert cfg.hydra.callbacks.report._target_ == "studyllama.callbacks.ReportOnMultirunEnd"
    for variant, (method, prompt, train) in CELLS.items():  # each cell composes to its method, prompt, preset
        cell = _compose(["experiment=ablation", f"variant={variant}"])
        assert (cell.method.name, cell.prompt.name, cell.train.name) == (method, prompt, train), variant
        assert cell.eval.repetition_penalty == (1.1 if variant.endswith("_rp") else 1.0), variant
    gpu = _compose(["experiment=ablation_gpu", "variant=adapter_chat"])
    assert gpu.train.name == "adapter" and gpu.train.epochs == 6 and gpu.eval.cache_implementation == "static"
    assert gpu.hydra.sweeper.params.variant == cfg.hydra.sweeper.params.variant and gpu.judge.name == "local"
    # Adding a cell is a one-line change, and a command-line override works the same way.
    cfg = _compose(["experiment=ablation", "hydra.sweeper.params.variant=lora_chat"])
    assert cfg.hydra.sweeper.params.variant == "lora_chat"


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
                    reason="hydra-submitit-launcher not installed: pip install -e '.[slurm]'")
def test_slurm_launcher_config_composes():
    cfg = _compose(["experiment=ablation", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"])
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min, launcher.mem_gb) == ("gpu", 1, 180, 64)
    assert "export HF_HUB_OFFLINE=1" in launcher.setup
    assert OmegaConf.to_container(launcher)["submitit_folder"] == "${hydra.sweep.dir}/.submitit/%j"  # resolved by Hydra


def test_joblib_multirun_with_judge_writes_the_report(tiny_corpus, tmp_path):
    sweep = tmp_path / "sweep"
    # Two zero-shot, non-graph cells keep this test free of training and of the concept-graph build.
    args = ["eval", "experiment=ablation", "variant=zero_shot_seed,zero_shot_chat", "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2", "model=tiny_random",
            f"data.path={tiny_corpus}", "eval.max_new_tokens=4", "eval.progress=false",
            "eval.bootstrap_resamples=20", "eval.metrics=[rouge]",
            "judge.model.source=tiny_random", "judge.model.name=tiny_random", f"hydra.sweep.dir={sweep}"]
    r = subprocess.run([sys.executable, "-m", "studyllama.cli", *args], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Joblib.Parallel(n_jobs=2" in r.stdout + r.stderr
    jobs = sorted(sweep.glob("*/metrics.json"))
    assert sorted(json.loads(p.read_text())["prompt"] for p in jobs) == ["chat", "seed"]
    for p in jobs:
        m = json.loads(p.read_text())
        assert 1.0 <= m["metrics"]["geval"]["mean"] <= 5.0 and m["metrics"]["geval"]["n"] == 4
        assert m["judge"]["id"].startswith("local:tiny_random:") and m["judge"]["prompt"] == "geval_rubric"
        preds = [json.loads(line) for line in (p.parent / "predictions.jsonl").read_text().splitlines()]
        assert all(x["judge"]["method"] == "next_token" and x["metrics"]["geval"] == x["judge"]["score"]
                   for x in preds)
        assert len((p.parent / "judge_cache.jsonl").read_text().splitlines()) == 4
    md = (sweep / "report" / "results.md").read_text()
    assert "| prompt=chat | 4 |" in md and "| prompt=seed | 4 |" in md  # variant=... says nothing more
    assert (sweep / "report" / "report.html").is_file() and (sweep / "report" / "plots" / "geval.png").is_file()


def test_long_sweep_folder_names_are_bounded():
    from studyllama.config import run_id

    assert run_id("") == "default" and run_id("data.path=/a/b,prompt=chat") == "data.path=_a_b,prompt=chat"
    long = ",".join(f"key{i}=value{i}" for i in range(40)) + ",prompt=chat"
    name = run_id(long)
    assert len(name.encode()) == 200 and name.startswith("key0=value0,") and "prompt=chat~" in name
    assert run_id(long.replace("chat", "seed")) != name
    assert len(run_id("é" * 300).encode()) <= 200
