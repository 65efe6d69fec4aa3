"""Turn a question (and optional evidence) into the exact text a model is given.

Two formats: ``raw`` fills a plain-text template (the original work's seed prompt is
one), ``chat`` renders system + user messages with the tokenizer's chat template.
The same variant must be used for training and evaluation; :func:`build_prompt` is
the single place both go through.
"""

from __future__ import annotations

SEED_SYSTEM = (
    "You are applying for a job related to AI, and you can expect to encounter problems related to "
    "statistics, computer science, and artificial intelligence."
)
# The original work's baseline prompt, verbatim.
SEED_TEMPLATE = "{system}\n\n### Question:\n{question}\n\n### Answer and Explanation:\n"
FORMATS = ("raw", "chat")


class PromptError(ValueError):
    """A prompt template or variant is misconfigured."""


def build_prompt(question: str, *, fmt: str, system: str, template: str, tokenizer=None,
                 evidence: str = "", cite: str = "") -> str:
    """Render one prompt.

    Args:
        question: the question text.
        fmt: ``raw`` (``template`` is the whole prompt) or ``chat`` (``template`` is the
            user message; ``system`` becomes the system message).
        system: the system instruction.
        template: a ``str.format`` template with ``{question}``, optionally ``{system}``
            (raw only), ``{evidence}`` and ``{cite}``.
        tokenizer: needed for ``chat``: its chat template renders the messages.
        evidence: text substituted for ``{evidence}`` (empty when there is none).
        cite: text substituted for ``{cite}``: the instruction to cite evidence ids, or empty.
    """
    try:
        body = template.format(question=question, system=system, evidence=evidence, cite=cite)
    except (KeyError, IndexError) as e:
        raise PromptError(
            f"prompt.template uses an unknown field {e}; allowed fields are {{question}}, {{system}}, {{evidence}}, {{cite}}"
        ) from None
    if fmt == "raw":
        return body
    if fmt != "chat":
        raise PromptError(f"prompt.format={fmt!r}: use one of {list(FORMATS)}")
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise PromptError("prompt.format=chat needs a tokenizer with a chat template; use a raw prompt (prompt=seed)")
    messages = [{"role": "system", "content": system}, {"role": "user", "content": body}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
