"""``python -m chalicelib.imports.cli`` run in process against moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.imports import cli
from chalicelib.imports.model import internal_id
from chalicelib.patients.store import PatientStore
from chalicelib.practices.store import PracticeStore
from tests import factories

PATIENTS = b"""PatNum,LName,FName,WirelessPhone
1,Stone,Ada,555-555-0150
2,Bad,Phone,555-0150
"""


@pytest.fixture
def practice(aws: None) -> None:
    PracticeStore().put(factories.maple())


def test_the_command_imports_reports_rejections_and_exits_1(
    practice: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "patients.csv"
    path.write_bytes(PATIENTS)
    assert cli.main(["--practice", "P1", str(path)]) == cli.EXIT_REJECTED
    out, err = capsys.readouterr()
    assert "patients_csv into P1 (source csv): 2 read, 1 created" in out
    assert "rejected: row 3 (PatNum 2): WirelessPhone has no area code" in out
    assert "DynamoDB requests:" in out
    assert "parse" in err  # progress goes to stderr
    stored = PatientStore().get("P1", internal_id("csv", "patient", "1"))
    assert stored is not None and stored.phone == "+15555550150"


def test_a_second_run_of_the_same_file_changes_nothing(
    practice: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes(PATIENTS.replace(b"2,Bad,Phone,555-0150\n", b""))
    assert cli.main(["--practice", "P1", "--quiet", str(path)]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["--practice", "P1", "--quiet", "--json", str(path)]) == cli.EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 1)


def test_an_unreadable_file_or_unknown_practice_exits_2_with_a_message(
    practice: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "patients.csv"
    empty.write_bytes(b"")
    assert cli.main(["--practice", "P1", str(empty)]) == cli.EXIT_FAILED
    assert "the file is empty (empty_file)" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_bytes(PATIENTS)
    assert cli.main(["--practice", "P404", str(good)]) == cli.EXIT_FAILED
    assert "no such practice" in capsys.readouterr().err
    assert cli.main(["--practice", "P1", str(tmp_path / "missing.csv")]) == cli.EXIT_FAILED


def test_the_kind_is_guessed_from_name_and_content() -> None:
    assert cli.guess_kind(Path("export.json"), b"{}") == "fhir"
    assert cli.guess_kind(Path("appointments.csv"), b"") == "appointments_csv"
    assert cli.guess_kind(Path("x.txt"), b"AptNum,PatNum\n") == "appointments_csv"
    assert cli.guess_kind(Path("x.txt"), b"PatNum,LName\n") == "patients_csv"
    assert cli.guess_kind(Path("x.txt"), b"a,b\n") is None
