import json

import pytest

from kg.lexicon import LexiconError, load_lexicon
from tests.kg.conftest import LEXICON


def write(tmp_path, rows):
    p = tmp_path / "lex.jsonl"
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return p


def test_loads_in_file_order_with_parents(lexicon_path):
    lex = load_lexicon(lexicon_path)
    assert list(lex) == ["machine learning", "decision tree", "random forest", "bagging"]
    assert lex["bagging"].part_of == ("random forest",) and lex["bagging"].aliases == ("bootstrap aggregating",)
    assert lex["random forest"].text() == "random forest: An average of many trees."
    assert lex["decision tree"].location.endswith("lexicon.jsonl:2")


def test_empty_lexicon_is_a_clear_error(tmp_path):
    with pytest.raises(LexiconError, match=r"lex\.jsonl: the lexicon is empty"):
        load_lexicon(write(tmp_path, ["", "  "]))


def test_missing_file_says_which_setting(tmp_path):
    with pytest.raises(LexiconError, match="set kg.lexicon"):
        load_lexicon(tmp_path / "nope.jsonl")


def test_unknown_relation_names_file_and_line(tmp_path):
    bad = dict(LEXICON[1], has_part=["machine learning"])
    with pytest.raises(LexiconError, match=r"lex\.jsonl:2: unknown relation or key 'has_part'"):
        load_lexicon(write(tmp_path, [LEXICON[0], bad]))


def test_unknown_parent_names_file_line_and_parent(tmp_path):
    bad = dict(LEXICON[1], is_a=["machine lerning"])
    with pytest.raises(LexiconError, match=r"lex\.jsonl:2: unknown parent 'machine lerning' under is_a of "
                                           r"'decision tree'"):
        load_lexicon(write(tmp_path, [LEXICON[0], bad]))


def test_all_problems_reported_at_once(tmp_path):
    rows = [LEXICON[0], "{not json", dict(LEXICON[1], domain="biology"), dict(LEXICON[2], name="Random Forest"),
            LEXICON[0]]
    with pytest.raises(LexiconError) as e:
        load_lexicon(write(tmp_path, rows))
    msg = str(e.value)
    assert msg.startswith("4 invalid lexicon entries")
    assert "lex.jsonl:2: not valid JSON" in msg
    assert "lex.jsonl:3: domain 'biology'" in msg
    assert "lex.jsonl:4: name 'Random Forest' must be lowercase" in msg
    assert "lex.jsonl:5: name 'machine learning' already defined at" in msg


def test_self_parent_is_rejected(tmp_path):
    with pytest.raises(LexiconError, match="lists itself under part_of"):
        load_lexicon(write(tmp_path, [dict(LEXICON[0], part_of=["machine learning"])]))
