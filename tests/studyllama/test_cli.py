"""The console script end to end on CPU with the tiny random model."""

import json
import subprocess
import sys

import pytest

from studyllama.cli import VERBS, main


def run_cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "studyllama.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_unknown_verb_prints_the_verbs(capsys):
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown verb 'frobnicate'" in err
    assert all(v in err for v in VERBS)


def test_help_lists_verbs(capsys):
    assert main([]) == 0
    assert "studyllama run" in capsys.readouterr().out


TINY = ["model=tiny_random", "eval.max_new_tokens=8", "eval.progress=false", "eval.bootstrap_resamples=50"]


def test_eval_end_to_end_and_resume(tiny_corpus, tmp_path):
    args = ["eval", f"data.path={tiny_corpus}", *TINY, f"hydra.run.dir={tmp_path}/out"]
    r = run_cli(args, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "rougeL" in r.stdout and "EOS rate" in r.stdout
    preds = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert sorted(p["id"] for p in preds) == ["q0", "q1", "q2", "q5"]
    assert set(preds[0]) >= {"id", "prompt", "answer", "reference", "finish_reason", "completion_tokens", "metrics"}
    assert preds[0]["prompt"].startswith("<|im_start|>system\nYou are applying")
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n"] == 4 and metrics["model"] == "tiny_random" and metrics["prompt"] == "chat"
    assert set(metrics["metrics"]) >= {"rouge1", "rouge2", "rougeL", "bleu", "bleu4", "rs_rougeL"}
    assert metrics["generation"]["answers_generated"] == 4
    assert sum(metrics["finish_reasons"].values()) == 4

    # An interrupted run: drop one answer, rerun, only that one is generated again.
    gen = tmp_path / "out" / "generations.jsonl"
    lines = gen.read_text().splitlines()
    gen.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:10])  # a truncated last line
    r = run_cli(args, tmp_path)
    assert r.returncode == 0, r.stderr
    again = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert again["generation"]["answers_generated"] == 1
    assert again["metrics"]["rougeL"] == metrics["metrics"]["rougeL"]


def test_multirun_over_prompts(tiny_corpus, tmp_path):
    r = run_cli(["eval", "-m", "prompt=seed,chat", f"data.path={tiny_corpus}", *TINY,
                 f"hydra.sweep.dir={tmp_path}/sweep"], tmp_path)
    assert r.returncode == 0, r.stderr
    prompts = sorted(json.loads(p.read_text())["prompt"] for p in (tmp_path / "sweep").glob("*/metrics.json"))
    assert prompts == ["chat", "seed"]


def test_run_compares_prompts_side_by_side(tiny_corpus, tmp_path):
    # The default compares chat with mindmap (the graph prompt, tested in tests/prompting and tests/kg);
    # two non-graph variants keep this test free of the graph build.
    r = run_cli(["run", f"data.path={tiny_corpus}", *TINY, "eval.limit=3", "compare_prompts=[seed,chat]",
                 f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert r.returncode == 0, r.stderr
    header = next(line for line in r.stdout.splitlines() if line.startswith("metric"))
    assert "zero_shot/seed" in header and "zero_shot/chat" in header
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [s["prompt"] for s in summary] == ["seed", "chat"] and all(s["n"] == 3 for s in summary)


def test_bad_corpus_error_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    r = run_cli(["eval", f"data.path={bad}", *TINY, f"hydra.run.dir={tmp_path}/out"], tmp_path)
    assert r.returncode != 0
    assert "bad.jsonl:1: key 'domain' is missing" in r.stderr


@pytest.mark.slow
def test_default_run_on_smollm2(tmp_path):
    r = run_cli(["run", "eval.limit=3", "eval.max_new_tokens=16", f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "smollm2_135m on 3 test questions" in r.stdout
    header = next(line for line in r.stdout.splitlines() if line.startswith("metric"))
    assert "zero_shot/chat" in header and "zero_shot/mindmap" in header
    mindmap = [json.loads(line) for line in (tmp_path / "run" / "mindmap" / "predictions.jsonl").read_text().splitlines()]
    assert all("graph" in p and "evidence_ids" in p["graph"] for p in mindmap)
    assert any(p["graph"]["evidence_ids"] for p in mindmap)  # the graph reached at least one prompt
    use = json.loads((tmp_path / "run" / "mindmap" / "metrics.json").read_text())["evidence_use"]
    assert use["n_with_evidence"] + use["n_fallback"] == 3


def test_cfg_job_after_overrides_prints_the_composed_config(tmp_path):
    r = run_cli(["eval", "eval.limit=3", "--cfg", "job"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "limit: 3" in r.stdout


def test_options_are_separated_from_overrides():
    from studyllama.cli import split_options

    assert split_options(["a=1", "--cfg", "job", "b=2", "-m", "--info", "defaults", "c=3"]) == (
        ["--cfg", "job", "-m", "--info", "defaults"], ["a=1", "b=2", "c=3"])
    assert split_options(["-m", "prompt=seed,chat"]) == (["-m"], ["prompt=seed,chat"])
