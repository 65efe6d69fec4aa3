"""G-Eval through any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp server, Ollama).

With ``scoring=auto`` (default) the judge asks for ``logprobs`` and ``top_logprobs`` and
scores ``sum_s p(s) * s`` at the first reply token that is a score (G-Eval,
https://arxiv.org/abs/2303.16634); if the server returns no logprobs it switches to
sampling n replies (temperature 2, top_p 1, n 10) and averaging their parsed scores.

Failures: timeouts, connection errors, 408, 429 and 5xx are retried with exponential backoff
(``backoff_s * 2**attempt``, capped, or the server's Retry-After when longer). A reply
with no score in it is malformed: retried the same way, then recorded as missing
(score None), never as a score. Other 4xx (bad key, unknown model) fail at once. The API
key is read from the environment variable named by ``api_key_env`` and never logged.
"""

from __future__ import annotations

import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from evaluation.judges import JudgeConfigError, register_judge
from evaluation.judges.scoring import Verdict, expected_score, mean_of_samples, parse_score, score_token_value

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
SCORING = ("auto", "logprobs", "samples")


class Malformed(ValueError):
    """The server answered, but the reply holds no usable score."""


@register_judge("openai")
class OpenAIJudge:
    """A G-Eval judge on a chat-completions endpoint.

    Args:
        model: the served model name (e.g. ``gpt-4o-mini``, or vLLM's ``--served-model-name``).
        base_url: the endpoint, e.g. ``http://127.0.0.1:8000/v1``. Default None: ``$OPENAI_BASE_URL`` or OpenAI.
        api_key_env: name of the environment variable holding the key. Default ``OPENAI_API_KEY``.
        scoring: ``auto`` (logprobs, else samples), ``logprobs`` or ``samples``. Default ``auto``.
        top_logprobs: alternatives returned per reply token. Default 20 (OpenAI's maximum).
        n_samples, temperature, top_p: the sampling fallback. Defaults 10, 2.0, 1.0.
        max_tokens: reply length; the form asks for the score only. Default 5.
        timeout_s: per request. Default 60.
        max_retries: retries after the first try. Default 5.
        backoff_s, backoff_max_s: first wait and cap of the exponential backoff. Defaults 1, 60.
        concurrency: requests in flight. Default 4.
    """

    def __init__(self, *, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 scoring: str = "auto", top_logprobs: int = 20, n_samples: int = 10, temperature: float = 2.0,
                 top_p: float = 1.0, max_tokens: int = 5, timeout_s: float = 60.0, max_retries: int = 5,
                 backoff_s: float = 1.0, backoff_max_s: float = 60.0, concurrency: int = 4):
        if scoring not in SCORING:
            raise JudgeConfigError(f"judge.scoring={scoring!r}: use one of {list(SCORING)}")
        if not model:
            raise JudgeConfigError("judge=openai needs judge.model (the served model name, e.g. gpt-4o-mini)")
        key = os.environ.get(api_key_env)
        if not key:
            raise JudgeConfigError(
                f"judge=openai: no API key: the environment variable {api_key_env} (judge.api_key_env) is not set. "
                f"Export it, e.g. `export {api_key_env}=...`; for a keyless local server (vLLM, llama.cpp, "
                f"Ollama) set it to any value and point judge.base_url at the server, e.g. http://127.0.0.1:8000/v1")
        import openai

        # Retries are ours (they also cover malformed replies), so the client's are off.
        self.client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=0)
        self.model, self.scoring = model, scoring
        self.top_logprobs, self.n_samples, self.max_tokens = top_logprobs, n_samples, max_tokens
        self.temperature, self.top_p = temperature, top_p
        self.max_retries, self.backoff_s, self.backoff_max_s = max_retries, backoff_s, backoff_max_s
        self.concurrency = concurrency
        self.id = f"openai:{model}@{str(self.client.base_url).rstrip('/')}"
        self._no_logprobs = scoring == "samples"

    def score(self, prompts: Sequence[str]) -> list[Verdict]:
        """Judge each rendered G-Eval prompt; order is kept, ``concurrency`` requests at a time."""
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(self._score_one, prompts))

    def _score_one(self, prompt: str) -> Verdict:
        messages = [{"role": "user", "content": prompt}]
        if not self._no_logprobs:
            verdict = self._with_retries(lambda: self._by_logprobs(messages))
            if verdict is not None:
                return verdict
        return self._with_retries(lambda: self._by_samples(messages))

    def _by_logprobs(self, messages) -> Verdict | None:
        resp = self.client.chat.completions.create(
            model=self.model, messages=messages, max_tokens=self.max_tokens, temperature=0.0,
            logprobs=True, top_logprobs=self.top_logprobs)
        if not resp.choices:
            raise Malformed("a reply with no choices")
        content = getattr(resp.choices[0].logprobs, "content", None)
        if not content:
            if self.scoring == "logprobs":
                raise JudgeConfigError(f"{self.id} returned no logprobs; set judge.scoring=auto or samples")
            log.warning("%s returned no logprobs: scoring by %d samples from now on", self.id, self.n_samples)
            self._no_logprobs = True
            return None
        for tok in content:  # the first reply token that is a score; its alternatives give p(s)
            if score_token_value(tok.token) is None:
                continue
            probs: dict[int, float] = {}
            for alt in tok.top_logprobs or [tok]:
                if (s := score_token_value(alt.token)) is not None:
                    probs[s] = probs.get(s, 0.0) + math.exp(alt.logprob)
            if (verdict := expected_score(probs)) is not None:
                return verdict
        raise Malformed(f"no score token in the reply {resp.choices[0].message.content!r}")

    def _by_samples(self, messages) -> Verdict:
        texts: list[str | None] = []
        for _ in range(self.n_samples):  # servers that ignore n return one choice per request
            resp = self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=self.max_tokens, temperature=self.temperature,
                top_p=self.top_p, n=self.n_samples - len(texts))
            texts += [c.message.content for c in resp.choices]
            if len(texts) >= self.n_samples:
                break
        samples = [s for s in map(parse_score, texts) if s is not None]
        if not samples:
            raise Malformed(f"no score in any of {len(texts)} sampled replies, e.g. {texts[:1]!r}")
        return Verdict(score=mean_of_samples(samples), method="samples", samples=samples)

    def _with_retries(self, call) -> Verdict | None:
        import openai

        error = ""
        for attempt in range(self.max_retries + 1):
            try:
                return call()
            except JudgeConfigError:
                raise
            except Malformed as e:
                error = f"malformed reply: {e}"
                wait = self._backoff(attempt)
            except openai.APIStatusError as e:
                if e.status_code not in (408, 429) and e.status_code < 500:
                    raise JudgeConfigError(f"{self.id}: HTTP {e.status_code} ({e.message}); check judge.model, "
                                           "judge.base_url and the key's permissions") from None
                error = f"HTTP {e.status_code}"
                wait = max(self._backoff(attempt), min(_retry_after(e), self.backoff_max_s))
            except (openai.APITimeoutError, openai.APIConnectionError) as e:
                error = type(e).__name__
                wait = self._backoff(attempt)
            except (openai.APIResponseValidationError, AttributeError, IndexError, KeyError, TypeError,
                    ValueError) as e:  # a body that is not a chat completion
                error = f"malformed reply: {type(e).__name__}: {e}"
                wait = self._backoff(attempt)
            if attempt < self.max_retries:
                log.info("%s: %s; retry %d/%d in %.2fs", self.id, error, attempt + 1, self.max_retries, wait)
                time.sleep(wait)
        log.warning("%s: %s after %d tries: recorded as missing", self.id, error, self.max_retries + 1)
        return Verdict(score=None, method="failed", error=error)

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max_s, self.backoff_s * 2 ** attempt)


def _retry_after(e) -> float:
    try:
        return float(e.response.headers.get("retry-after", 0))
    except (AttributeError, TypeError, ValueError):
        return 0.0
