"""Every file under conf/ composes against its schema; typos fail naming the key."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from studyllama import CONF_DIR
from studyllama.config import register

register()
VERBS = sorted(p.stem for p in CONF_DIR.glob("*.yaml") if p.stem != "report")  # report: no model (tests/evaluation)
GROUP_OPTIONS = sorted((p.parent.name, p.stem) for p in CONF_DIR.glob("*/*.yaml")
                       if p.parent.name not in ("experiment", "hydra", "variant"))  # _global_ packages: below
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
VARIANTS = sorted(p.stem for p in (CONF_DIR / "variant").glob("*.yaml"))


def _compose(verb, overrides=()):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=verb, overrides=list(overrides))


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_config_composes(verb):
    cfg = _compose(verb)
    assert cfg.model.name == "smollm2_135m"


@pytest.mark.parametrize("group,option", GROUP_OPTIONS)
def test_every_group_option_composes(group, option):
    cfg = _compose("train" if group == "train" else "eval", [f"{group}={option}"])  # only `train` has a train group
    assert cfg[group].name == option


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    _compose("eval", [f"experiment={experiment}"])  # eval.yaml has `experiment: null` in its defaults


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_ablation_cell_composes_to_the_method_and_prompt_it_names(variant):
    cfg = _compose("eval", [f"variant={variant}"])
    assert variant.removesuffix("_rp") == f"{cfg.method.name}_{cfg.prompt.name}"


def test_typo_in_key_fails_naming_the_key():
    with pytest.raises(ConfigCompositionException) as e:
        _compose("eval", ["eval.max_new_tokenz=5"])
    assert "max_new_tokenz" in str(e.value.__cause__ or e.value)


def test_wrong_type_fails_naming_the_key():
    with pytest.raises((ConfigCompositionException, ValidationError)) as e:
        _compose("eval", ["eval.batch_size=many"])
    assert "batch_size" in str(e.value.__cause__ or e.value)


def test_typo_inside_a_group_file_fails(tmp_path):
    conf = tmp_path / "conf"
    import shutil

    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "broken.yaml").write_text("defaults:\n  - schema_model\nname: broken\nsorce: hf\n")
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        with pytest.raises((ConfigCompositionException, ConfigKeyError)) as e:
            compose(config_name="eval", overrides=["model=broken"])
    assert "sorce" in str(e.value.__cause__ or e.value)


def test_data_paths_resolve_to_the_repository():
    cfg = _compose("eval")
    assert Path(cfg.data.path) == CONF_DIR.parent / "data" / "corpus"


def test_speed_settings_leave_the_training_fingerprint_alone():
    from studyllama.recipes.train import train_fingerprint

    base = train_fingerprint(_compose("train", ["method=lora"]))
    assert train_fingerprint(_compose("train", ["method=lora", "train.compile=true", "train.fused_lora=false"])) == base
    assert train_fingerprint(_compose("train", ["method=lora", "train.lr=1e-3"])) != base


def test_compile_refuses_the_llama_adapter_naming_the_key():
    from studyllama.recipes.train import attach_adapter

    cfg = _compose("train", ["method=adapter", "train.compile=true"])
    with pytest.raises(ValueError, match="train.compile=false"):
        attach_adapter(object(), cfg)
