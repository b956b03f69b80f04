"""The patient search index: one small item per (token, patient), written with the patient.

Keys: ``FIND#<token>#<patient id>`` (token like ``n:garcia``, ``p:5550100123``, ``e:ana@example.test``),
and ``FINDSET#<patient id>`` holding the tokens last written so a rename deletes the stale ones.
A search is one Query ``SK begins_with FIND#<prefix>`` per prefix, paged to the end; no Scan.
The index is derived data: ``reindex_practice`` rebuilds it from the PATIENT# items (demo load, imports).
"""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import ListAttribute, UnicodeAttribute

from chalicelib.patients.model import Patient
from chalicelib.patients.search import SearchPlan, tokens_for
from chalicelib.patients.store import PatientItem, patient_from
from chalicelib.platform.table import TableItem, practice_pk

MAX_HITS = 25


class SearchTokenItem(TableItem, discriminator="PatientSearch"):
    patient_id = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    tokens = ListAttribute(of=UnicodeAttribute, default=list)


class SearchSetItem(TableItem, discriminator="PatientSearchSet"):
    patient_id = UnicodeAttribute()
    tokens = ListAttribute(of=UnicodeAttribute, default=list)


def _sk(token: str, patient_id: str) -> str:
    return f"FIND#{token}#{patient_id}"


class PatientSearchIndex:
    def index(self, practice_id: str, patients: Iterable[Patient]) -> int:
        """(Re)write the tokens of these patients; returns how many patients were indexed."""
        batch = list(patients)
        if not batch:
            return 0
        pk = practice_pk(practice_id)
        previous: dict[str, list[str]] = {}
        for start in range(0, len(batch), 100):
            keys = [(pk, f"FINDSET#{p.id}") for p in batch[start : start + 100]]
            for item in SearchSetItem.batch_get(keys):
                previous[item.patient_id] = [str(t) for t in item.tokens or []]
        with SearchTokenItem.batch_write() as writer:
            for p in batch:
                tokens = tokens_for(p)
                for stale in set(previous.get(p.id, [])) - set(tokens):
                    writer.delete(SearchTokenItem(pk, _sk(stale, p.id)))
                for token in tokens:
                    writer.save(
                        SearchTokenItem(pk, _sk(token, p.id), patient_id=p.id, name=p.display_name, tokens=tokens)
                    )
                writer.save(SearchSetItem(pk, f"FINDSET#{p.id}", patient_id=p.id, tokens=tokens))
        return len(batch)

    def reindex_practice(self, practice_id: str) -> int:
        """Back-fill: every patient of the practice (one paged Query of PATIENT# items)."""
        count = 0
        page: list[Patient] = []
        for item in PatientItem.query(practice_pk(practice_id), PatientItem.sk.startswith("PATIENT#")):
            page.append(patient_from(item))
            if len(page) == 100:
                count += self.index(practice_id, page)
                page = []
        return count + self.index(practice_id, page)

    def search(self, practice_id: str, how: SearchPlan, limit: int = MAX_HITS) -> list[str]:
        """Patient ids whose tokens start with one of the plan's prefixes, best (exact token) first."""
        exact: dict[str, None] = {}
        partial: dict[str, None] = {}
        for prefix in how.prefixes:
            for item in SearchTokenItem.query(
                practice_pk(practice_id), SearchTokenItem.sk.startswith(f"FIND#{prefix}")
            ):
                tokens = [str(t) for t in item.tokens or []]
                if not how.matches(tokens):
                    continue
                token = str(item.sk).removeprefix("FIND#").rsplit("#", 1)[0]
                (exact if token == prefix else partial)[item.patient_id] = None
        ordered = list(exact) + [p for p in partial if p not in exact]
        return ordered[:limit]
