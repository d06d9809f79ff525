"""Citations of catalog entries as BibTeX and CSL-JSON (no torch)."""

from __future__ import annotations

import re
from typing import Any

from kdtaxonomy.schema import Entry

_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def bibtex_escape(text: str) -> str:
    """Escape LaTeX special characters of a BibTeX field value."""
    return "".join(_BIBTEX_SPECIAL.get(ch, ch) for ch in text)


def cite_key(entry: Entry) -> str:
    """The citation key used by ``kdtax cite`` and by LaTeX tables: the entry id."""
    return entry.id


def bibtex(entry: Entry) -> str:
    """A BibTeX record of the entry."""
    kind = {"conference": "inproceedings", "workshop": "inproceedings", "journal": "article"}.get(
        entry.venue_type, "misc"
    )
    fields: list[tuple[str, str]] = [
        ("title", "{" + bibtex_escape(entry.title) + "}"),
        ("author", bibtex_escape(" and ".join(entry.authors))),
        ("year", str(entry.year)),
    ]
    if kind == "inproceedings":
        fields.append(("booktitle", bibtex_escape(entry.venue)))
    elif kind == "article":
        fields.append(("journal", bibtex_escape(entry.venue)))
    else:
        fields.append(("howpublished", bibtex_escape(entry.venue)))
    if entry.pages:
        fields.append(("pages", entry.pages.replace("-", "--")))
    ids = entry.identifiers
    if ids.doi:
        fields.append(("doi", bibtex_escape(ids.doi)))
    if ids.arxiv:
        fields += [("eprint", ids.arxiv), ("archiveprefix", "arXiv")]
    if ids.url:
        fields.append(("url", ids.url.replace("%", r"\%").replace("#", r"\#")))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{cite_key(entry)},\n{body}\n}}\n"


def _person(name: str) -> dict[str, str]:
    parts = name.split()
    if len(parts) == 1:
        return {"literal": name}
    particles = {"van", "von", "de", "der", "den", "da", "di", "le", "la"}
    split = len(parts) - 1
    while split > 1 and parts[split - 1].lower() in particles:
        split -= 1
    return {"family": " ".join(parts[split:]), "given": " ".join(parts[:split])}


def csl_json(entry: Entry) -> dict[str, Any]:
    """A CSL-JSON item of the entry."""
    kind = {
        "conference": "paper-conference",
        "workshop": "paper-conference",
        "journal": "article-journal",
    }.get(entry.venue_type, "article")
    item: dict[str, Any] = {
        "id": cite_key(entry),
        "type": kind,
        "title": entry.title,
        "author": [_person(a) for a in entry.authors],
        "issued": {"date-parts": [[entry.year]]},
        "container-title": entry.venue,
    }
    if entry.pages:
        item["page"] = entry.pages
    if entry.identifiers.doi:
        item["DOI"] = entry.identifiers.doi
    if entry.identifiers.url:
        item["URL"] = entry.identifiers.url
    elif entry.identifiers.arxiv:
        item["URL"] = f"https://arxiv.org/abs/{entry.identifiers.arxiv}"
    if entry.identifiers.arxiv:
        item["number"] = f"arXiv:{entry.identifiers.arxiv}"
    return item


def short_citation(entry: Entry) -> str:
    """``Ahn et al. 2019``-style label."""
    first = _person(entry.authors[0])
    family = first.get("family") or first.get("literal", "")
    more = (
        " et al."
        if len(entry.authors) > 2
        else (f" and {_person(entry.authors[1]).get('family', '')}" if len(entry.authors) == 2 else "")
    )
    return re.sub(r"\s+", " ", f"{family}{more} {entry.year}")
