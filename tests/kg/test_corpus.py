import json

import pytest

from kg.corpus import CorpusError, load_corpus, stratified_subset
from tests.conftest import qa, write_corpus


def test_loads_and_filters_splits(tiny_corpus):
    recs = load_corpus(tiny_corpus)
    assert [r.id for r in recs] == ["q0", "q1", "q2", "q3", "q4", "q5"]
    test = load_corpus(tiny_corpus, splits=("test",))
    assert [r.id for r in test] == ["q0", "q1", "q2", "q5"]
    assert test[0].concepts == ("thing",) and test[0].location.endswith("corpus.jsonl:1")


def test_bad_json_names_file_and_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps(qa(0)) + "\n{not json\n")
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: not valid JSON"):
        load_corpus(p)


@pytest.mark.parametrize("field,value,message", [
    ("answer", "", r"c\.jsonl:1: key 'answer' is missing"),
    ("domain", "biology", r"c\.jsonl:1: domain 'biology' is not one of"),
    ("split", "validation", r"c\.jsonl:1: split 'validation' is not one of"),
    ("difficulty", "hard", r"c\.jsonl:1: difficulty 'hard'"),
    ("concepts", "x", r"c\.jsonl:1: key 'concepts' must be a list"),
])
def test_invalid_field_names_line_and_key(tmp_path, field, value, message):
    p = write_corpus(tmp_path / "c.jsonl", [qa(0, **{field: value})])
    with pytest.raises(CorpusError, match=message):
        load_corpus(p)


def test_all_errors_reported_at_once_and_duplicates_named(tmp_path):
    p = write_corpus(tmp_path / "c.jsonl", [qa(0), qa(0), qa(1, domain="x")])
    with pytest.raises(CorpusError) as e:
        load_corpus(p)
    msg = str(e.value)
    assert msg.startswith("2 invalid record(s)")
    assert "c.jsonl:2: id 'q0' already used at" in msg and "c.jsonl:1" in msg
    assert "c.jsonl:3: domain 'x'" in msg


def test_missing_split_uses_default_only_when_given(tmp_path):
    row = qa(0)
    del row["split"]
    p = write_corpus(tmp_path / "c.jsonl", [row])
    with pytest.raises(CorpusError, match="key 'split' is missing"):
        load_corpus(p)
    assert load_corpus(p, default_split="test")[0].split == "test"


def test_empty_and_missing_paths(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(CorpusError, match="corpus is empty"):
        load_corpus(tmp_path / "empty.jsonl")
    with pytest.raises(CorpusError, match="no such file or folder"):
        load_corpus(tmp_path / "nope.jsonl")
    (tmp_path / "d").mkdir()
    with pytest.raises(CorpusError, match="holds no .jsonl files"):
        load_corpus(tmp_path / "d")


def test_folder_is_read_recursively_in_sorted_order(tmp_path):
    (tmp_path / "b").mkdir()
    write_corpus(tmp_path / "b" / "x.jsonl", [qa(2)])
    write_corpus(tmp_path / "a.jsonl", [qa(1)])
    assert [r.id for r in load_corpus(tmp_path)] == ["q1", "q2"]


def test_stratified_subset_is_balanced_deterministic_and_nested(tmp_path):
    rows = [qa(i, d) for i, d in enumerate(["cs"] * 10 + ["stats"] * 10 + ["ai"] * 10)]
    recs = load_corpus(write_corpus(tmp_path / "c.jsonl", rows))
    sub6 = stratified_subset(recs, 6, seed=0)
    assert sorted(r.domain for r in sub6) == ["ai", "ai", "cs", "cs", "stats", "stats"]
    assert sub6 == stratified_subset(recs, 6, seed=0)
    assert stratified_subset(recs, 7, seed=0)[:6] == sub6
    assert stratified_subset(recs, 6, seed=1) != sub6
    assert stratified_subset(recs, None) == recs
