"""Hand-written IAM: every function has its own policy, and none grants everything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
PROD = CONFIG["stages"]["prod"]
FUNCTIONS = ("api_handler", "tick", "inbound_sms", "ses_feedback", "process_image_upload")
POLICY_FILES = sorted((ROOT / ".chalice").glob("policy-*.json"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_chalice_never_generates_a_policy() -> None:
    assert CONFIG["autogen_policy"] is False


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_its_own_policy_file_in_prod(function: str) -> None:
    policy = PROD["lambda_functions"][function]["iam_policy_file"]
    assert (ROOT / ".chalice" / policy).is_file()


def test_no_two_functions_share_a_policy() -> None:
    files = [PROD["lambda_functions"][f]["iam_policy_file"] for f in FUNCTIONS]
    assert len(set(files)) == len(files)


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_no_statement_allows_every_action_on_every_resource(path: Path) -> None:
    for statement in json.loads(path.read_text())["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = _as_list(statement["Action"])
        resources = _as_list(statement.get("Resource", []))
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement
        assert not ("*" in resources and any("*" in a for a in actions)), statement


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_a_wildcard_resource_is_only_for_sms_which_has_no_arn(path: Path) -> None:
    for statement in json.loads(path.read_text())["Statement"]:
        if statement["Effect"] == "Allow" and "*" in _as_list(statement.get("Resource", [])):
            assert set(_as_list(statement["Action"])) <= {
                "sns:Publish",
                "sns:CheckIfPhoneNumberIsOptedOut",
                "sns:OptInPhoneNumber",
            }


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_sms_publishing_can_never_reach_a_topic(path: Path) -> None:
    statements = json.loads(path.read_text())["Statement"]
    if any("sns:Publish" in _as_list(s["Action"]) for s in statements if s["Effect"] == "Allow"):
        assert any(s["Effect"] == "Deny" and "sns:Publish" in _as_list(s["Action"]) for s in statements)


def test_only_the_functions_that_touch_images_may_touch_the_bucket() -> None:
    for function in FUNCTIONS:
        text = (ROOT / ".chalice" / PROD["lambda_functions"][function]["iam_policy_file"]).read_text()
        assert ("s3:" in text) == (function in {"api_handler", "process_image_upload"}), function


def test_ses_feedback_reads_no_secret_and_sends_nothing() -> None:
    text = (ROOT / ".chalice" / PROD["lambda_functions"]["ses_feedback"]["iam_policy_file"]).read_text()
    assert "ssm:" not in text
    assert "ses:SendEmail" not in text
    assert "sns:Publish" not in text
