"""G-Eval prompts, rendering, and the judge cache: reruns judge nothing, edits re-judge."""

import json

import pytest

from evaluation.judges.cache import JudgeCache, cache_key
from evaluation.judges.geval import load_prompt, render, score_answers
from evaluation.judges.scoring import Verdict, expected_score, parse_score, score_token_value
from studyllama import CONF_DIR

PROMPTS = CONF_DIR / "judge" / "prompts"


class CountingJudge:
    """Scores an answer by its length (mod 5) + 1 and counts what it was asked; 'fail' answers get no score."""

    def __init__(self, id="fake:1"):
        self.id, self.seen = id, []

    def score(self, prompts):
        self.seen += prompts
        return [Verdict(score=None, method="failed", error="x") if "fail" in p
                else Verdict(score=float(len(p) % 5 + 1), method="logprobs") for p in prompts]


@pytest.mark.parametrize("name", ["geval_criteria", "geval_rubric"])
def test_shipped_prompts_load(name):
    text = load_prompt(PROMPTS / f"{name}.txt")
    assert "{question}" in text and "{answer}" in text and "1 to 5" in text


def test_rubric_prompt_describes_1_3_5_and_asks_for_the_score_only():
    text = load_prompt(PROMPTS / "geval_rubric.txt")
    for s in ("1 - Poor", "3 - Acceptable", "5 - Excellent"):
        assert s in text
    assert "Reply with the score only" in text and text.rstrip().endswith("Score:")
    assert "Rubric" not in load_prompt(PROMPTS / "geval_criteria.txt")


def test_prompt_without_placeholders_fails_naming_them(tmp_path):
    (tmp_path / "p.txt").write_text("Rate {question}")
    with pytest.raises(ValueError, match=r"lacks \['\{answer\}'\]"):
        load_prompt(tmp_path / "p.txt")
    with pytest.raises(FileNotFoundError, match=r"one of \['p'\]"):
        load_prompt(tmp_path / "nope.txt")


def test_render_substitutes_literally():
    assert render("Q: {question}\nA: {answer}\n{x}", "2+2?", "{answer} is {4}") == "Q: 2+2?\nA: {answer} is {4}\n{x}"


def test_scoring_helpers():
    assert [score_token_value(t) for t in ("4", " 4", "Ġ5", "▁1", "6", "A", "44")] == [4, 4, 5, 1, None, None, None]
    assert [parse_score(t) for t in ("4", "Score: 3", "- Quality: 4/5", "10", "2.5", "", None, "I give 4.")] == \
        [4, 3, 4, None, None, None, None, 4]
    v = expected_score({1: 0.1, 5: 0.1, 7: 0.8})
    assert v.score == pytest.approx(3.0) and v.mass == pytest.approx(0.2)
    assert expected_score({6: 1.0}) is None


def test_cache_makes_reruns_free_and_keys_on_judge_prompt_question_answer(tmp_path):
    qs, ans = ["q1", "q2", "q3"], ["short", "a longer answer", "fail me"]
    path = tmp_path / "judge_cache.jsonl"
    j = CountingJudge()
    first = score_answers(j, "T {question} {answer}", qs, ans, cache=JudgeCache(path), chunk=2)
    assert len(j.seen) == 3 and first[2].score is None
    assert len(path.read_text().splitlines()) == 2  # missing verdicts are not cached

    j2 = CountingJudge()
    again = score_answers(j2, "T {question} {answer}", qs, ans, cache=JudgeCache(path))
    assert j2.seen == ["T q3 fail me"]  # only the missing one is tried again
    assert [v.score for v in again] == [v.score for v in first]

    j3 = CountingJudge()
    score_answers(j3, "Edited {question} {answer}", qs[:1], ans[:1], cache=JudgeCache(path))
    score_answers(CountingJudge("fake:2"), "T {question} {answer}", qs[:1], ans[:1], cache=JudgeCache(path))
    assert len(j3.seen) == 1
    keys = {json.loads(line)["key"] for line in path.read_text().splitlines()}
    assert cache_key("fake:1", "T {question} {answer}", "q1", "short") in keys
    assert cache_key("fake:2", "T {question} {answer}", "q1", "short") in keys
    assert cache_key("fake:1", "Edited {question} {answer}", "q1", "short") in keys


def test_cache_skips_a_truncated_last_line(tmp_path):
    path = tmp_path / "c.jsonl"
    score_answers(CountingJudge(), "{question}{answer}", ["a", "b"], ["x", "y"], cache=JudgeCache(path))
    text = path.read_text()
    path.write_text(text + text.splitlines()[0][:15])  # a run killed mid-write
    j = CountingJudge()
    score_answers(j, "{question}{answer}", ["a", "b"], ["x", "y"], cache=JudgeCache(path))
    assert j.seen == []
