"""The table in infra/ has the keys and indexes the code queries."""

from __future__ import annotations

from pathlib import Path

import yaml

from chalicelib.platform.table import TableItem

ROOT = Path(__file__).resolve().parents[2]


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_the_template_table_has_the_models_keys_indexes_and_ttl() -> None:
    template = yaml.load((ROOT / "infra" / "resources.yaml").read_text(), Loader=_CfnLoader)
    table = template["Resources"]["ChairsideTable"]["Properties"]
    keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
    assert keys == {TableItem.pk.attr_name: "HASH", TableItem.sk.attr_name: "RANGE"}
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in table["GlobalSecondaryIndexes"]}
    assert indexes == {
        TableItem.gsi1.Meta.index_name: ["GSI1PK", "GSI1SK"],
        TableItem.gsi2.Meta.index_name: ["GSI2PK", "GSI2SK"],
    }
    assert table["TimeToLiveSpecification"]["AttributeName"] == TableItem.expires_at.attr_name
