"""The openai judge against a real loopback HTTP server: logprob scoring, retries, malformed replies."""

import logging

import pytest

from evaluation.judges import JudgeConfigError, make_judge
from tests.evaluation.fake_chat_server import FakeChatServer, completion, logprob_reply

KEY_ENV = "STUDYLLAMA_TEST_JUDGE_KEY"
SECRET = "sk-test-do-not-log-1234"


@pytest.fixture
def server():
    s = FakeChatServer().start()
    yield s
    s.stop()


@pytest.fixture
def judge(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)

    def build(**kw):
        args = dict(model="judge-test", base_url=server.base_url, api_key_env=KEY_ENV, timeout_s=10.0,
                    max_retries=3, backoff_s=0.01, backoff_max_s=0.05, concurrency=1)
        return make_judge("openai", **{**args, **kw})
    return build


def test_score_is_the_probability_weighted_mean_of_score_tokens(server, judge):
    # p(4) is split over "4" and " 4"; "A" is not a score and drops out by renormalisation.
    server.push(("json", logprob_reply(["4"], {"4": 0.5, " 4": 0.1, "3": 0.3, "5": 0.05, "A": 0.05})))
    [v] = judge().score(["Question: what is a p-value? Answer: ..."])
    assert v.method == "logprobs"
    assert v.score == pytest.approx((4 * 0.6 + 3 * 0.3 + 5 * 0.05) / 0.95, abs=1e-9)
    assert v.mass == pytest.approx(0.95, abs=1e-9)
    assert v.probs["4"] == pytest.approx(0.6 / 0.95)
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["logprobs"] is True and req["body"]["top_logprobs"] == 20
    assert req["body"]["model"] == "judge-test" and req["body"]["max_tokens"] == 5
    assert req["body"]["messages"] == [{"role": "user", "content": "Question: what is a p-value? Answer: ..."}]
    assert req["headers"]["authorization"] == f"Bearer {SECRET}"


def test_score_is_read_at_the_first_score_token_of_the_reply(server, judge):
    server.push(("json", logprob_reply(["Score", ":", " 2"], {" 2": 0.5, " 1": 0.5}, at=2)))
    [v] = judge().score(["p"])
    assert v.score == pytest.approx(1.5)


def test_timeout_is_retried(server, judge):
    server.push(("sleep", 4.0), ("json", logprob_reply(["5"], {"5": 1.0})))
    [v] = judge(timeout_s=1.0).score(["p"])
    assert v.score == pytest.approx(5.0)
    assert len(server.requests) == 2


def test_429_and_5xx_are_retried_with_backoff(server, judge, caplog):
    caplog.set_level(logging.DEBUG)
    server.push(("status", 429), ("status", 500), ("status", 503), ("json", logprob_reply(["3"], {"3": 1.0})))
    [v] = judge().score(["p"])
    assert v.score == pytest.approx(3.0)
    assert len(server.requests) == 4
    assert "HTTP 429" in caplog.text and "HTTP 500" in caplog.text
    assert SECRET not in caplog.text


def test_malformed_reply_is_retried_then_missing(server, judge, caplog):
    caplog.set_level(logging.DEBUG)
    no_score = logprob_reply(["Excellent", " answer"], {" answer": 1.0})
    server.push(("json", no_score), ("raw", "this is not json"), ("json", {"choices": []}))
    [v] = judge(max_retries=2).score(["p"])
    assert v.score is None and v.method == "failed" and "malformed" in v.error
    assert len(server.requests) == 3
    assert "recorded as missing" in caplog.text
    assert SECRET not in caplog.text


def test_malformed_then_valid_reply_scores(server, judge):
    server.push(("json", logprob_reply(["Good"], {"Good": 1.0})), ("json", logprob_reply(["2"], {"2": 1.0})))
    [v] = judge().score(["p"])
    assert v.score == pytest.approx(2.0) and len(server.requests) == 2


def test_without_logprobs_n_samples_are_averaged(server, judge):
    contents = ["4", "5", "Score: 3", "4/5", "no idea", "4", "5", "3", "4", "4"]
    server.push(("json", completion(["4"], logprobs=None)), ("json", completion(contents)),
                ("json", completion(["2"] * 10)))
    j = judge()
    [v] = j.score(["p"])
    parsed = [4, 5, 3, 4, 4, 5, 3, 4, 4]
    assert v.method == "samples" and v.samples == parsed
    assert v.score == pytest.approx(sum(parsed) / len(parsed))
    body = server.requests[1]["body"]
    assert (body["n"], body["temperature"], body["top_p"]) == (10, 2.0, 1.0)
    assert "logprobs" not in body
    [v2] = j.score(["p"])  # the judge remembers that this server gives no logprobs
    assert v2.score == pytest.approx(2.0) and len(server.requests) == 3


def test_no_key_is_a_clear_error(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(JudgeConfigError, match=f"environment variable {KEY_ENV}"):
        make_judge("openai", model="judge-test", base_url=server.base_url, api_key_env=KEY_ENV)


def test_unauthorised_fails_at_once(server, judge):
    server.push(("status", 401))
    with pytest.raises(JudgeConfigError, match="HTTP 401"):
        judge().score(["p"])
    assert len(server.requests) == 1


def test_order_is_kept_with_concurrent_requests(server, judge):
    server.push(*[("json", logprob_reply([str(s)], {str(s): 1.0})) for s in (1, 2, 3, 4, 5)])
    scores = [v.score for v in judge(concurrency=1).score(["a", "b", "c", "d", "e"])]
    assert scores == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_unknown_judge_lists_the_known_ones():
    with pytest.raises(JudgeConfigError, match=r"known: \['local', 'openai'\]"):
        make_judge("gpt5")
