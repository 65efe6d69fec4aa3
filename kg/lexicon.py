"""Load and validate the curated concept lexicon (``data/lexicon.jsonl``).

One concept per line: ``{"name", "domain", "aliases", "definition", "is_a", "part_of"}``.
``name`` is the lowercase canonical name; ``aliases`` are other surface forms (synonyms,
abbreviations); ``is_a`` and ``part_of`` name parent concepts of the same lexicon and
become graph edges (:mod:`kg.relations`). Every problem is reported as ``file:line``
with what to fix, all problems at once, as :mod:`kg.corpus` does for the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kg.corpus import DOMAINS
from kg.io import jsonl_lines

LEXICON_RELATIONS = ("is_a", "part_of")
FIELDS = ("name", "domain", "aliases", "definition", *LEXICON_RELATIONS)


class LexiconError(ValueError):
    """The lexicon file is missing, empty or has invalid entries."""


@dataclass(frozen=True)
class Concept:
    """One node of the concept graph.

    ``source`` is ``lexicon`` for curated entries and ``mined`` for terms found in the
    training answers (:mod:`kg.terms`); mined concepts have an empty definition.
    """

    name: str
    domain: str
    definition: str = ""
    aliases: tuple[str, ...] = ()
    is_a: tuple[str, ...] = ()
    part_of: tuple[str, ...] = ()
    source: str = "lexicon"
    location: str = ""  # "file:line", for messages

    def text(self) -> str:
        """What the encoder embeds for this node: ``"name: definition"`` (or the name alone)."""
        return f"{self.name}: {self.definition}" if self.definition else self.name


def _str_list(rec: dict, key: str, where: str, errs: list[str]) -> tuple[str, ...]:
    value = rec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        errs.append(f"{where}: key '{key}' must be a list of non-empty strings")
        return ()
    return tuple(v.strip() for v in value)


def _check(rec: object, where: str) -> tuple[Concept | None, list[str]]:
    if not isinstance(rec, dict):
        return None, [f"{where}: expected a JSON object, got {type(rec).__name__}"]
    errs = []
    for key in sorted(set(rec) - set(FIELDS)):
        errs.append(f"{where}: unknown relation or key '{key}'; an entry may only have "
                    f"{', '.join(FIELDS)} (relations: {', '.join(LEXICON_RELATIONS)})")
    for key in ("name", "domain", "definition"):
        if not isinstance(rec.get(key), str) or not rec[key].strip():
            errs.append(f"{where}: key '{key}' is missing or not a non-empty string")
    name = rec.get("name")
    if isinstance(name, str) and name.strip() and name != name.strip().lower():
        errs.append(f"{where}: name '{name}' must be lowercase without surrounding spaces; "
                    f"write '{name.strip().lower()}' and keep the original casing as an alias")
    if isinstance(rec.get("domain"), str) and rec["domain"] not in DOMAINS:
        errs.append(f"{where}: domain '{rec['domain']}' is not one of {list(DOMAINS)}")
    aliases = _str_list(rec, "aliases", where, errs)
    parents = {rel: _str_list(rec, rel, where, errs) for rel in LEXICON_RELATIONS}
    if errs:
        return None, errs
    return Concept(name=name, domain=rec["domain"], definition=rec["definition"].strip(), aliases=aliases,
                   location=where, **parents), []


def _check_links(concepts: dict[str, Concept]) -> list[str]:
    errs = []
    for c in concepts.values():
        for rel in LEXICON_RELATIONS:
            for parent in getattr(c, rel):
                if parent == c.name:
                    errs.append(f"{c.location}: '{c.name}' lists itself under {rel}; remove it")
                elif parent not in concepts:
                    errs.append(f"{c.location}: unknown parent '{parent}' under {rel} of '{c.name}'; "
                                f"add an entry named '{parent}' or fix the spelling")
    return errs


def load_lexicon(path: str | Path) -> dict[str, Concept]:
    """Read and validate every entry of a lexicon JSONL file.

    Args:
        path: the lexicon file (``data/lexicon.jsonl``).

    Returns:
        Concepts by canonical name, in file order.

    Raises:
        LexiconError: the file is missing or empty, or lists every bad line as
            ``file:line: problem`` (invalid JSON, missing or unknown keys, a domain
            outside :data:`kg.corpus.DOMAINS`, a duplicate name, an unknown parent).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise LexiconError(f"{path}: no such lexicon file; set kg.lexicon to a JSONL file of concepts")
    concepts: dict[str, Concept] = {}
    errors = []
    for where, raw, bad_json in jsonl_lines(path):
        if bad_json:
            errors.append(bad_json)
            continue
        concept, errs = _check(raw, where)
        errors.extend(errs)
        if concept is None:
            continue
        if concept.name in concepts:
            errors.append(f"{where}: name '{concept.name}' already defined at {concepts[concept.name].location}; "
                          "merge the two entries")
            continue
        concepts[concept.name] = concept
    if not errors and not concepts:
        raise LexiconError(f"{path}: the lexicon is empty; add one JSON concept per line "
                           '({"name", "domain", "aliases", "definition", "is_a", "part_of"})')
    errors.extend(_check_links(concepts) if not errors else [])
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise LexiconError(f"{len(errors)} invalid lexicon entr{'y' if len(errors) == 1 else 'ies'}:\n  {shown}{more}")
    return concepts
