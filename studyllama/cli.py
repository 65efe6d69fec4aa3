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
}


def usage() -> str:
    lines = ["usage: studyllama <verb> [hydra overrides...]", "", "verbs:"]
    lines += [f"  {v:<8}{h}" for v, (_, h) in VERBS.items()]
    lines += ["", "examples:", "  studyllama run", "  studyllama eval prompt=chat eval.limit=20",
              "  studyllama eval -m prompt=seed,chat", "  studyllama eval --cfg job   # print the composed config"]
    return "\n".join(lines)


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
    sys.argv = [f"studyllama-{verb}", *argv[1:], f"hydra.job.name={verb}"]
    app = hydra.main(config_path=str(CONF_DIR), config_name=verb, version_base="1.3")(task)
    app()
    return 0


if __name__ == "__main__":
    sys.exit(main())
