"""The ``studyllama`` console script: ``studyllama <verb> [hydra overrides...]``.

Each verb is a Hydra app composed from ``conf/<verb>.yaml``; everything after the verb
is passed to Hydra, so ``-m``, ``--cfg job`` and ``key=value`` overrides work on every verb.
"""

from __future__ import annotations

import importlib
import os
import sys

from studyllama import CONF_DIR

# verb -> (recipe module, one-line help)
VERBS = {
    "run": ("studyllama.recipes.run", "default job: compare prompt variants on a test subset (CPU, minutes)"),
    "eval": ("studyllama.recipes.evaluate", "answer and score one split with one model/method/prompt"),
    "train": ("studyllama.recipes.train", "fine-tune a LoRA/QLoRA/prompt-tuning adapter; keep the best dev epoch"),
    "report": ("studyllama.recipes.report", "results table, plots and HTML drill-down of a sweep: report <sweep_dir>"),
    "kg": ("studyllama.recipes.kg", "build (or reuse) the concept graph from the train split; print its quality"),
    "viz": ("studyllama.recipes.viz", "PNG + HTML of a question's evidence subgraph: viz question=<id or text>"),
}


def usage() -> str:
    lines = ["usage: studyllama <verb> [hydra overrides...]", "", "verbs:"]
    lines += [f"  {v:<8}{h}" for v, (_, h) in VERBS.items()]
    lines += ["", "examples:", "  studyllama run", "  studyllama eval prompt=chat eval.limit=20",
              "  studyllama eval -m prompt=seed,chat", "  studyllama eval experiment=ablation   # method x prompt sweep",
              "  studyllama train method=lora prompt=chat train=lima",
              "  studyllama report multirun/eval/<date>", "  studyllama kg",
              "  studyllama viz question=ai-llms-001   # or viz 'What is a random forest?'",
              "  studyllama eval --cfg job   # print the composed config"]
    return "\n".join(lines)


def positional_to_override(verb: str, args: list[str]) -> list[str]:
    """``report <sweep_dir>`` / ``viz <question>``: a first argument that is neither an option nor ``key=value``."""
    if verb == "report" and args and not args[0].startswith("-") and "=" not in args[0]:
        path = os.path.abspath(args[0]).replace("\\", "\\\\").replace("'", "\\'")
        return [f"sweep_dir='{path}'", *args[1:]]
    if verb == "viz" and args and not args[0].startswith("-") and "=" not in args[0]:
        text = args[0].replace("\\", "\\\\").replace("'", "\\'")
        return [f"question='{text}'", *args[1:]]
    return args


# Hydra's command-line options that take a value (``--info`` takes one only from its choices).
_VALUED = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
           "--experimental-rerun"}
_INFO_CHOICES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def split_options(args: list[str]) -> tuple[list[str], list[str]]:
    """Hydra options (with their values) apart from ``key=value`` overrides.

    Hydra's parser takes the overrides as one positional list, so overrides on both sides of an
    option (``key=val --cfg job key2=val2``) are rejected; options are moved to the front.
    """
    options, overrides, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("-"):
            options.append(a)
            takes = a in _VALUED or (a in ("--info", "-i") and i + 1 < len(args) and args[i + 1] in _INFO_CHOICES)
            if takes and i + 1 < len(args):
                options.append(args[i + 1])
                i += 1
        else:
            overrides.append(a)
        i += 1
    return options, overrides


def report_args_error(args: list[str]) -> str | None:
    """Why ``report`` cannot run (no sweep folder, or one that does not exist), before Hydra creates folders."""
    given = [a.split("=", 1)[1].strip("'\"") for a in args if a.startswith("sweep_dir=")]
    if not given and not any(a.startswith("-") for a in args):
        return "usage: studyllama report <sweep_dir> [key=value ...]   (e.g. studyllama report multirun/eval/<date>)"
    if given and not os.path.isdir(given[0].replace("\\'", "'")):
        return f"studyllama report: {given[0]} is not a folder; pass a sweep folder such as multirun/eval/<date>"
    return None


def main(argv: list[str] | None = None) -> int | None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    verb = argv[0]
    if verb not in VERBS:
        print(f"studyllama: unknown verb '{verb}'\n\n{usage()}", file=sys.stderr)
        return 2
    if not CONF_DIR.is_dir():
        print(f"studyllama: config folder {CONF_DIR} not found; install from a clone with `pip install -e .`",
              file=sys.stderr)
        return 2
    # Nothing is ever fetched from a hub: fail fast instead of hanging on a network call.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import hydra

    from studyllama.config import register

    register()
    task = importlib.import_module(VERBS[verb][0]).main
    args = positional_to_override(verb, argv[1:])
    if verb == "report" and (err := report_args_error(args)):
        print(err, file=sys.stderr)
        return 2
    options, overrides = split_options(args)
    sys.argv = [f"studyllama-{verb}", *options, f"hydra.job.name={verb}", *overrides]
    app = hydra.main(config_path=str(CONF_DIR), config_name=verb, version_base="1.3")(task)
    app()
    return 0


if __name__ == "__main__":
    sys.exit(main())
