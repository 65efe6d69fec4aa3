"""The sweep report on a hand-made sweep: exact table rows, CSV, plots, escaped HTML, the CLI verb."""

import csv
import subprocess
import sys

from evaluation.report import build_report
from evaluation.report.collect import collect_jobs, parse_factors
from studyllama.cli import main, positional_to_override
from tests.evaluation.fake_sweep import XSS, make_sweep

MD_ROWS = [
    "| variant | n | rouge1 | meteor | geval | EOS rate |",
    "|---|---|---|---|---|---|",
    "| prompt=chat | 2 | 0.2000 [0.1250, 0.2500] | 0.3000 [0.2000, 0.4000] | 3.2500 [3.0000, 3.5000] | 100.0% |",
    "| prompt=seed | 2 | 0.1000 [0.0500, 0.1500] | missing | 2.5000 [2.0000, 3.0000] | 50.0% |",
]


def test_jobs_are_labelled_by_what_varies(tmp_path):
    jobs = collect_jobs(make_sweep(tmp_path))
    assert [j.label for j in jobs] == ["prompt=chat", "prompt=seed"]
    assert jobs[0].factors == {"model": "tiny_random", "method": "zero_shot", "prompt": "chat", "data": "interview"}
    assert parse_factors({"prompt": "chat"}, ["+seed=3", "hydra.launcher.n_jobs=2", "eval.progress=false"]) == \
        {"prompt": "chat", "seed": "3"}


def test_report_files_and_exact_rows(tmp_path):
    sweep = make_sweep(tmp_path)
    files = build_report(sweep)
    out = sweep / "report"
    assert files["md"] == out / "results.md" and files["html"] == out / "report.html"
    md = files["md"].read_text().splitlines()
    start = md.index(MD_ROWS[0])
    assert md[start:start + 4] == MD_ROWS
    assert "G-Eval judge: `local:tiny`" in md

    rows = list(csv.DictReader(files["csv"].open()))
    assert [r["variant"] for r in rows] == ["prompt=chat", "prompt=seed"]
    assert rows[1]["job"] == "method=zero_shot,prompt=seed"
    assert (rows[1]["rouge1_mean"], rows[1]["rouge1_ci_low"], rows[1]["rouge1_ci_high"]) == ("0.1", "0.05", "0.15")
    assert (rows[1]["meteor_mean"], rows[1]["meteor_missing"]) == ("", "2")
    assert rows[0]["geval_mean"] == "3.25" and rows[0]["sacrebleu"] == "1.5" and rows[0]["judge"] == "local:tiny"

    assert sorted(p.name for p in (out / "plots").iterdir()) == ["geval.png", "rouge.png", "similarity.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in (out / "plots").iterdir())

    # A second report ignores the first one's folder and gives the same table.
    assert build_report(sweep)["md"].read_text().splitlines()[start:start + 4] == MD_ROWS


def test_html_escapes_all_user_text(tmp_path):
    page = build_report(make_sweep(tmp_path))["html"].read_text()
    assert XSS not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
    assert "What is q1 &amp; why?" in page
    assert page.count("<script>") == 1  # only the page's own filter script
    assert 'id="q-q1"' in page and 'id="q-q3"' in page and 'src="plots/rouge.png"' in page
    assert "evidence_ids</b>: [&quot;e1&quot;, &quot;e2&quot;]" in page
    assert "subgraph</b>: {&quot;nodes&quot;: [&quot;n1&quot;, &quot;n2&quot;], &quot;edges&quot;: [&quot;n1-n2&quot;]}" in page
    assert "linked</b>" not in page  # empty fields are left out


def test_drilldown_limit(tmp_path):
    page = build_report(make_sweep(tmp_path), drilldown_limit=1)["html"].read_text()
    assert page.count('<details class="question"') == 1 and "1 of 3 shown" in page


def test_positional_sweep_dir_becomes_an_override(tmp_path):
    assert positional_to_override("report", [str(tmp_path / "it's"), "plots=false"]) == \
        [f"sweep_dir='{tmp_path}/it\\'s'", "plots=false"]
    assert positional_to_override("report", ["sweep_dir=/x"]) == ["sweep_dir=/x"]
    assert positional_to_override("eval", ["somewhere"]) == ["somewhere"]


def test_report_verb(tmp_path):
    sweep = make_sweep(tmp_path)
    r = subprocess.run([sys.executable, "-m", "studyllama.cli", "report", str(sweep), "plots=false", "title=T"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert MD_ROWS[2] in r.stdout and "# T" in r.stdout
    assert (sweep / "report" / "report.html").is_file() and not (sweep / "report" / "plots").exists()


def test_report_verb_without_a_folder_says_how_to_call_it(tmp_path, capsys):
    assert main(["report"]) == 2
    assert "usage: studyllama report <sweep_dir>" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()
