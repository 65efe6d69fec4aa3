"""``studyllama kg`` and ``studyllama viz`` end to end; bad input exits 2 with one clear message."""

import json
import subprocess
import sys

import pytest

from tests.conftest import write_corpus
from tests.kg.conftest import corpus_rows


def run_cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "studyllama.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def common(tmp_path, corpus, lexicon):
    return [f"data.path={corpus}", f"kg.lexicon={lexicon}", f"kg.cache_dir={tmp_path}/cache",
            "kg.term_min_freq=2", "kg.npmi_threshold=0.0"]


def test_empty_lexicon_exits_2_with_a_message(tmp_path, corpus_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    r = run_cli(["kg", *common(tmp_path, corpus_path, empty), f"hydra.run.dir={tmp_path}/out"], tmp_path)
    assert r.returncode == 2
    assert "studyllama kg: " in r.stderr and "empty.jsonl: the lexicon is empty" in r.stderr
    assert "Traceback" not in r.stderr


def compose(verb, overrides):
    from hydra import compose, initialize_config_dir

    from studyllama import CONF_DIR
    from studyllama.config import register

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=verb, overrides=overrides)


def test_unassigned_splits_exit_2(tmp_path, lexicon_path, capsys):
    from studyllama.recipes.kg import load_kg_or_exit

    corpus = write_corpus(tmp_path / "c.jsonl", [dict(r, split="unassigned") for r in corpus_rows()])
    with pytest.raises(SystemExit) as e:
        load_kg_or_exit(compose("kg", common(tmp_path, corpus, lexicon_path)), "kg")
    assert e.value.code == 2 and "c.jsonl:1: split 'unassigned' is not one of" in capsys.readouterr().err


def test_unknown_parent_exits_2(tmp_path, corpus_path, capsys):
    from studyllama.recipes.kg import load_kg_or_exit

    lex = tmp_path / "lex.jsonl"
    lex.write_text(json.dumps({"name": "a", "domain": "cs", "aliases": [], "definition": "A.", "is_a": ["b"],
                               "part_of": []}) + "\n")
    with pytest.raises(SystemExit) as e:
        load_kg_or_exit(compose("viz", common(tmp_path, corpus_path, lex)), "viz")
    assert e.value.code == 2 and "studyllama viz: 1 invalid lexicon entry" in capsys.readouterr().err


def test_viz_without_a_question_exits_2(tmp_path, corpus_path, lexicon_path, capsys):
    from studyllama.recipes.viz import main

    with pytest.raises(SystemExit) as e:
        main(compose("viz", common(tmp_path, corpus_path, lexicon_path)))
    assert e.value.code == 2 and "say which question to draw" in capsys.readouterr().err


@pytest.mark.slow
def test_kg_builds_reports_and_reuses_then_viz_draws(tmp_path, corpus_path, lexicon_path):
    args = ["kg", *common(tmp_path, corpus_path, lexicon_path)]
    r = run_cli([*args, f"hydra.run.dir={tmp_path}/out1"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "concept graph from 4 train Q&As (built" in r.stdout and "nodes            4 (lexicon 4)" in r.stdout
    report = json.loads((tmp_path / "out1" / "kg_report.json").read_text())
    assert report["nodes"] == 4 and report["edges"] == 12 and report["n_train"] == 4
    assert report["linking_dev"]["n"] == 1 and report["linking_test"]["n"] == 1
    assert report["test_coverage"] == 1.0  # "Decision trees?" mentions a concept
    r = run_cli([*args, f"hydra.run.dir={tmp_path}/out2"], tmp_path)
    assert r.returncode == 0 and "(reused;" in r.stdout

    r = run_cli(["viz", "question=q11", *common(tmp_path, corpus_path, lexicon_path),
                 f"hydra.run.dir={tmp_path}/viz"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "linked: decision tree (1.00, mention)" in r.stdout
    assert (tmp_path / "viz" / "q11.png").stat().st_size > 0 and (tmp_path / "viz" / "q11.html").is_file()
    ev = json.loads((tmp_path / "viz" / "q11.evidence.json").read_text())
    assert ev["node_ids"][0] == "decision tree" and ev["edge_ids"]

    r = run_cli(["viz", "How do random forests use bagging?", *common(tmp_path, corpus_path, lexicon_path),
                 f"hydra.run.dir={tmp_path}/viz2"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "linked: random forest (1.00, mention), bagging (1.00, mention)" in r.stdout
    assert len(list((tmp_path / "viz2").glob("question-*.html"))) == 1
