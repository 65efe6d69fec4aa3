import pytest

from prompting.templates import SEED_SYSTEM, SEED_TEMPLATE, PromptError, build_prompt


def test_seed_prompt_is_the_original_verbatim():
    p = build_prompt("What is a heap?", fmt="raw", system=SEED_SYSTEM, template=SEED_TEMPLATE)
    assert p == (
        "You are applying for a job related to AI, and you can expect to encounter problems related to "
        "statistics, computer science, and artificial intelligence.\n\n### Question:\nWhat is a heap?\n\n"
        "### Answer and Explanation:\n")


def test_seed_yaml_matches_code_constant():
    from studyllama.config import load_group_option, register

    register()
    cfg = load_group_option("prompt", "seed")
    assert cfg.system == SEED_SYSTEM and cfg.template == SEED_TEMPLATE and cfg.format == "raw"


def test_chat_prompt_uses_the_chat_template(tiny):
    _, tok = tiny
    p = build_prompt("Q?", fmt="chat", system="S.", template="{question}", tokenizer=tok)
    assert p == "<|im_start|>system\nS.<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"


def test_errors_say_what_to_do():
    with pytest.raises(PromptError, match=r"unknown field 'answer'"):
        build_prompt("q", fmt="raw", system="s", template="{answer}")
    with pytest.raises(PromptError, match="use one of"):
        build_prompt("q", fmt="markdown", system="s", template="{question}")
    with pytest.raises(PromptError, match="needs a tokenizer with a chat template"):
        build_prompt("q", fmt="chat", system="s", template="{question}")
