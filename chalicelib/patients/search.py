"""Patient search tokens: what the maintained index stores and how a query is turned into key prefixes.

Pure domain. A patient is findable by the start of any word of their name (accents and case ignored),
by the start of their phone number (E.164 digits or the national number) and by the start of their
email address. Tokens carry a kind prefix (``n:``, ``p:``, ``e:``) so a digit query never walks names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from chalicelib.patients.model import Patient

MIN_QUERY = 2
MAX_TOKEN = 80
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower case, accents removed (García -> garcia)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def name_words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def phone_digits(phone: str) -> list[str]:
    digits = re.sub(r"\D", "", phone)
    if not digits:
        return []
    out = [digits]
    if len(digits) == 11 and digits.startswith("1"):
        out.append(digits[1:])  # NANP national number, as people type it
        out.append(digits[4:])  # and the seven-digit local number
    return out


def tokens_for(patient: Patient) -> list[str]:
    found: list[str] = []
    for word in name_words(f"{patient.given_name} {patient.family_name}"):
        found.append(f"n:{word}")
    found += [f"p:{d}" for d in phone_digits(patient.phone)]
    if patient.email:
        found.append(f"e:{patient.email.strip().lower()}")
    return sorted({t[:MAX_TOKEN] for t in found})


@dataclass(frozen=True)
class SearchPlan:
    prefixes: tuple[str, ...]  # key prefixes to query (each one Query, begins_with)
    also: tuple[str, ...]  # further name words every hit must match (prefix of one of its name tokens)

    def matches(self, tokens: list[str]) -> bool:
        names = [t[2:] for t in tokens if t.startswith("n:")]
        return all(any(n.startswith(word) for n in names) for word in self.also)


def plan(query: str) -> SearchPlan | None:
    """None when the query is too short to search (fewer than two useful characters)."""
    text = query.strip()
    if "@" in text:
        email = text.lower()
        return SearchPlan((f"e:{email[:MAX_TOKEN]}",), ()) if len(email) >= MIN_QUERY else None
    digits = re.sub(r"\D", "", text)
    if digits and len(digits) >= max(MIN_QUERY, len(re.sub(r"[\s()+.\-]", "", text))):
        return SearchPlan((f"p:{digits[:MAX_TOKEN]}",), ()) if len(digits) >= 3 else None
    words = name_words(text)
    if not words or len("".join(words)) < MIN_QUERY:
        return None
    first, rest = max(words, key=len), list(words)
    rest.remove(first)
    prefixes = [f"n:{first[:MAX_TOKEN]}"]
    if len(words) == 1:
        prefixes.append(f"e:{first[:MAX_TOKEN]}")  # "ana.g" style email starts
    return SearchPlan(tuple(prefixes), tuple(rest))
