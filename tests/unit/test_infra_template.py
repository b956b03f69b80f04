"""infra/resources.yaml declares what the code expects of AWS, and holds no secret."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from chalicelib.images.files import bucket_cors_rules
from chalicelib.reminders import handlers as reminders

ROOT = Path(__file__).resolve().parents[2]


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)
TEMPLATE = yaml.load((ROOT / "infra" / "resources.yaml").read_text(), Loader=_CfnLoader)
RESOURCES = TEMPLATE["Resources"]


def _of_type(kind: str) -> dict[str, Any]:
    return {k: v for k, v in RESOURCES.items() if v.get("Type") == kind}


def test_the_table_is_encrypted_with_our_key_and_recoverable() -> None:
    table = RESOURCES["ChairsideTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "ChairsideKey"},
    }
    assert RESOURCES["ChairsideTable"]["DeletionPolicy"] == "Retain"


def test_the_image_bucket_is_private_kms_encrypted_and_takes_uploads_only_from_the_site() -> None:
    bucket = RESOURCES["ImageBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    default = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    (rule,) = bucket["CorsConfiguration"]["CorsRules"]
    (code_rule,) = bucket_cors_rules("https://portal.example.test")
    assert rule["AllowedOrigins"] == [{"Sub": "https://${DomainName}"}]
    assert sorted(rule["AllowedMethods"]) == sorted(code_rule["AllowedMethods"])
    prefixes = {r.get("Prefix") for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert {"incoming/", "images/"} <= prefixes


def test_uploads_under_incoming_invoke_the_image_function() -> None:
    (config,) = RESOURCES["ImageBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert config["Function"] == {"GetAtt": "ProcessImageUpload.Arn"}
    assert config["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "incoming/"}]


def test_the_sns_topics_are_the_ones_the_handlers_subscribe_to() -> None:
    names = {v["Properties"].get("TopicName") for v in _of_type("AWS::SNS::Topic").values()}
    assert {reminders.INBOUND_SMS_TOPIC, reminders.SES_FEEDBACK_TOPIC} <= names
    for topic in _of_type("AWS::SNS::Topic").values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "ChairsideKey"}


def test_ses_feedback_reaches_its_topic_through_the_configuration_set() -> None:
    destination = RESOURCES["SesFeedbackDestination"]["Properties"]["EventDestination"]
    assert {"bounce", "complaint"} <= set(destination["MatchingEventTypes"])
    assert destination["SnsDestination"]["TopicARN"] == {"Ref": "SesFeedbackTopic"}
    assert RESOURCES["SenderIdentity"]["Properties"]["ConfigurationSetAttributes"]["ConfigurationSetName"] == {
        "Ref": "SesConfigurationSet"
    }


def test_the_user_pool_carries_the_claims_the_api_reads() -> None:
    schema = {a["Name"]: a for a in RESOURCES["StaffUserPool"]["Properties"]["Schema"]}
    assert schema["practice_id"]["Mutable"] is False
    assert "role" in schema
    client = RESOURCES["StaffAppClient"]["Properties"]
    assert "custom:practice_id" not in client["WriteAttributes"]
    assert "custom:role" not in client["WriteAttributes"]


def test_event_handlers_have_a_dead_letter_queue_and_every_function_an_alarm() -> None:
    for function in ("Tick", "InboundSms", "SesFeedback", "ProcessImageUpload"):
        assert RESOURCES[function]["Properties"]["DeadLetterQueue"]["Type"] == "SQS"
    alarmed = {
        v["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for v in _of_type("AWS::CloudWatch::Alarm").values()
        if v["Properties"].get("Namespace") == "AWS/Lambda"
    }
    assert alarmed == {"APIHandler", "Tick", "InboundSms", "SesFeedback", "ProcessImageUpload"}


def test_a_stalled_sweep_raises_an_alarm_when_the_tick_stops_reporting() -> None:
    alarm = RESOURCES["SweepStalledAlarm"]["Properties"]
    assert alarm["MetricName"] == "Invocations"
    assert alarm["TreatMissingData"] == "breaching"


def test_parameters_cover_sender_sms_number_domain_and_secret_names() -> None:
    assert {"SenderAddress", "SmsOriginationNumber", "DomainName", "SecretsPath"} <= set(TEMPLATE["Parameters"])


def test_no_secret_value_sits_in_the_template_or_the_chalice_config() -> None:
    for path in (ROOT / "infra" / "resources.yaml", ROOT / ".chalice" / "config.json"):
        text = path.read_text()
        assert not re.search(r"(sk|rk)_(live|test)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{8,}", text), path
    prod = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["prod"]["environment_variables"]
    assert not {"TOKEN_SIGNING_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} & set(prod)
    env = RESOURCES["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert {"TOKEN_SIGNING_KEY_PARAM", "STRIPE_SECRET_KEY_PARAM", "STRIPE_WEBHOOK_SECRET_PARAM"} <= set(env)


def test_api_gateways_own_answers_use_the_error_shape_and_echo_nothing_the_caller_sent() -> None:
    from local.gateway import GATEWAY_RESPONSES

    declared = {}
    for resource in _of_type("AWS::ApiGateway::GatewayResponse").values():
        props = resource["Properties"]
        assert props["RestApiId"] == {"Ref": "RestAPI"}
        template = props["ResponseTemplates"]["application/json"]
        assert "$" not in template  # no $context.error.messageString, no request values
        error = json.loads(template)["error"]
        status = int(props["StatusCode"]) if "StatusCode" in props else None
        declared[props["ResponseType"]] = (status, error["code"], error["message"])
    assert declared == GATEWAY_RESPONSES  # the local API answers the same (local/gateway.py)
    assert declared["MISSING_AUTHENTICATION_TOKEN"][:2] == (404, "not_found")
