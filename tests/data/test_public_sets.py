"""The public interview sets load through the corpus loader, evaluation-only, with attribution."""

from pathlib import Path

import pytest

from studyllama.config import load_group_option, register
from studyllama.builders import build_records

register()


@pytest.mark.parametrize("name,n", [("public_alexeygrigorev", 193), ("public_kalyanks_llm", 115)])
def test_public_set_loads_with_attribution(name, n, capsys):
    from omegaconf import OmegaConf

    data = load_group_option("data", name)
    if not Path(data.path).is_file():
        pytest.skip(f"{data.path} not present (it lives in the shared folder beside the repository)")
    ev = OmegaConf.create({"limit": None, "subset_seed": 0})
    records = build_records(data, ev)
    assert len(records) == n and all(r.split == "test" for r in records)
    assert data.attribution in capsys.readouterr().out


def test_public_sets_are_not_copied_into_the_corpus():
    from kg.corpus import load_corpus

    root = Path(__file__).resolve().parents[2]
    ours = {r.question.strip().lower() for r in load_corpus(root / "data" / "corpus")}
    for name in ("public_alexeygrigorev", "public_kalyanks_llm"):
        path = Path(load_group_option("data", name).path)
        if path.is_file():
            theirs = {r.question.strip().lower() for r in load_corpus(path, default_split="test")}
            assert not ours & theirs
