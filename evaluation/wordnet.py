"""Find Princeton WordNet 3.0 offline, for METEOR's synonym matching.

nltk's downloader cannot run here, so WordNet is looked for in two places, in order:

1. nltk's own data path (``nltk.data.path``: ``~/nltk_data``, ``/usr/share/nltk_data``, ...),
   where ``nltk.download("wordnet")`` would have put it;
2. Debian's ``wordnet-base`` and ``wordnet-sense-index`` packages, which install the same
   WordNet 3.0 database files in ``/usr/share/wordnet``. nltk's reader also wants a
   ``lexnames`` file that Debian ships only as a man page (lexnames(5WN)); it is the fixed
   list of WordNet 3.0's 45 lexicographer files, written below. An nltk-style
   ``<cache>/nltk_data/corpora/wordnet`` folder (the files copied, ~36 MB, plus
   ``lexnames``) is built once, and ``<cache>/nltk_data`` is added to ``nltk.data.path``:
   nltk only opens corpus files that resolve inside its data path, so symlinks to
   ``/usr/share/wordnet`` would be refused.

WordNet: Miller 1995, https://doi.org/10.1145/219717.219748.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from functools import lru_cache
from pathlib import Path

from kg.io import atomic_folder

log = logging.getLogger(__name__)

DEBIAN_DIRS = ("/usr/share/wordnet",)
REQUIRED = tuple(f"{kind}.{pos}" for kind in ("index", "data") for pos in ("adj", "adv", "noun", "verb")) + tuple(
    f"{pos}.exc" for pos in ("adj", "adv", "noun", "verb"))
OPTIONAL = ("index.sense", "cntlist.rev", "cntlist")
INSTALL_HINT = ("install WordNet 3.0 offline with `apt-get install wordnet-base wordnet-sense-index` "
                "(Debian/Ubuntu), or put nltk's 'wordnet' corpus in a folder of nltk.data.path")
# WordNet 3.0 lexnames(5WN): file number, lexicographer file, syntactic category (1 noun, 2 verb, 3 adj, 4 adv).
LEXNAMES = (
    ["adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
     "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
     "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
     "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
     "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
     "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
     "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl"])
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


def _nltk_wordnet_dir() -> Path | None:
    """WordNet installed by nltk's downloader (a folder or a zip), or None."""
    import nltk

    for res in ("corpora/wordnet", "corpora/wordnet.zip/wordnet/"):
        try:
            return Path(str(nltk.data.find(res)))
        except LookupError:
            continue
    return None


def build_from_debian(source: Path, cache_dir: Path) -> Path:
    """An nltk-style ``corpora/wordnet`` folder (copies + ``lexnames``) under ``cache_dir``, built once, atomically."""
    target = cache_dir / "nltk_data" / "corpora" / "wordnet"
    if (target / "lexnames").is_file() and all((target / f).exists() for f in REQUIRED):
        return target
    with atomic_folder(target) as tmp:  # replaces a stale or partial folder from another version
        for name in REQUIRED + OPTIONAL:
            if (source / name).is_file():
                shutil.copyfile(source / name, tmp / name)
        (tmp / "lexnames").write_text(lexnames_text())
        (tmp / "SOURCE").write_text(f"copied from {source} (Debian wordnet-base, wordnet-sense-index)\n")
    log.info("wordnet: built %s from %s", target, source)
    return target


def find_wordnet(search_dirs: tuple[str, ...] = DEBIAN_DIRS, cache_dir: str | None = None,
                 use_nltk_path: bool = True) -> Path | None:
    """The folder of an nltk-readable WordNet 3.0, or None when there is none.

    Args:
        search_dirs: folders holding Debian's WordNet files. Default ``("/usr/share/wordnet",)``.
        cache_dir: where the nltk-style folder is built. Default ``$STUDYLLAMA_CACHE`` or ``~/.cache/studyllama``.
        use_nltk_path: look in ``nltk.data.path`` first. Default True.
    """
    if use_nltk_path and (found := _nltk_wordnet_dir()) is not None:
        return found
    import nltk

    for d in map(Path, search_dirs):
        if all((d / f).is_file() for f in REQUIRED):
            from models.loading import default_cache_dir  # here: importing it loads torch

            cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
            folder = build_from_debian(d, cache)
            if str(cache / "nltk_data") not in nltk.data.path:
                nltk.data.path.append(str(cache / "nltk_data"))
            return folder
    return None


@lru_cache(maxsize=4)
def load_wordnet(search_dirs: tuple[str, ...] = DEBIAN_DIRS, cache_dir: str | None = None,
                 use_nltk_path: bool = True):
    """An nltk ``WordNetCorpusReader`` (loaded once per process, ~2 s), or None with one warning saying how to install it."""
    folder = find_wordnet(search_dirs, cache_dir, use_nltk_path)
    if folder is None:
        log.warning("METEOR is missing: WordNet 3.0 was not found in nltk.data.path nor in %s; %s",
                    list(search_dirs), INSTALL_HINT)
        return None
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    with warnings.catch_warnings():  # "multilingual functions are not available": METEOR needs English only
        warnings.simplefilter("ignore", UserWarning)
        return WordNetCorpusReader(str(folder), None)
