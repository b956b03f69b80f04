"""The leak check itself finds what it is meant to: a name, a phone in any usual format, an email and a
birth date in any usual format, and passes lines with ids only."""

from __future__ import annotations

import pytest

from tests.log_leaks import leaks, needles

PERSON = {
    "given": "Marisol",
    "family": "Quillfeather",
    "phone": "+15555550177",
    "email": "marisol.quill@example.test",
    "birth": "1983-11-23",
}


@pytest.mark.parametrize(
    "line",
    [
        '{"message": "patient signed in", "who": "Marisol Quillfeather"}',
        "no answer from quillfeather",
        "sms to (555) 555-0177 failed",
        "sms to 555.555.0177 failed",
        "sms to +15555550177 failed",
        "bounce for MARISOL.QUILL@example.test",
        "born 11/23/1983",
        "born 19831123",
    ],
)
def test_each_kind_of_patient_data_in_a_line_is_found(line: str) -> None:
    assert leaks([line], needles({}, [PERSON]))


def test_a_line_with_ids_only_is_clean() -> None:
    line = '{"message": "reminder sent", "practice_id": "maple", "patient_id": "PAT-0177", "touch": "T1"}'
    assert leaks([line], needles({}, [PERSON])) == []
