"""Research integrity: training sees the train split only; the dev split only selects checkpoints;
the test split reaches neither (the knowledge graph's own check is in tests/kg/test_graph.py)."""

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from kg.corpus import load_corpus
from studyllama import CONF_DIR, ROOT
from studyllama.config import register
from studyllama.recipes.train import examples_for

register()
TRAIN_PRESETS = sorted(p.stem for p in (CONF_DIR / "train").glob("*.yaml"))


def test_every_training_preset_trains_on_train_and_selects_on_dev():
    for preset in TRAIN_PRESETS:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="train", overrides=[f"train={preset}"])
        assert (cfg.train.train_split, cfg.train.dev_split) == ("train", "dev"), preset


def test_training_examples_hold_no_dev_or_test_question(tiny):
    _, tok = tiny
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["prompt=seed", "train.max_seq_len=100000"])
    corpus = load_corpus(ROOT / "data" / "corpus")
    held_out = {r.id for r in corpus if r.split != "train"}
    examples = examples_for(cfg.train.train_split, cfg, tok, tok.eos_token_id)
    ids = {e.id for e in examples}
    assert len(ids) == 1000 and not ids & held_out
    held_out_answers = {r.answer for r in corpus if r.split != "train"}
    assert not {e.answer for e in examples} & held_out_answers
    assert OmegaConf.select(cfg, "data.split") == "test"  # evaluation's split is not what training reads
