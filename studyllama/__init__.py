"""studyllama: graph-augmented question answering with LLMs (the command-line app)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
