import pytest

from kg.splits import assign_splits


def rows(n_per_topic):
    return [dict(id=f"{t}-{i}", topic=t, split="unassigned") for t, n in n_per_topic.items() for i in range(n)]


def test_exact_totals_and_stratified_by_topic():
    rs = assign_splits(rows({"a": 50, "b": 30, "c": 20}), {"test": 30, "dev": 10, "train": 60})
    count = lambda t, s: sum(r["topic"] == t and r["split"] == s for r in rs)  # noqa: E731
    assert [count(t, "test") for t in "abc"] == [15, 9, 6]
    assert [count(t, "dev") for t in "abc"] == [5, 3, 2]
    assert sum(r["split"] == "train" for r in rs) == 60


def test_draw_is_independent_of_order():
    a = assign_splits(rows({"a": 7, "b": 5}), {"test": 4, "dev": 2, "train": 6})
    b = assign_splits(list(reversed(rows({"a": 7, "b": 5}))), {"test": 4, "dev": 2, "train": 6})
    assert {r["id"]: r["split"] for r in a} == {r["id"]: r["split"] for r in b}


def test_never_redraws():
    rs = rows({"a": 3})
    rs[0]["split"] = "test"
    with pytest.raises(ValueError, match="never re-drawn"):
        assign_splits(rs, {"test": 1, "dev": 1, "train": 1})
