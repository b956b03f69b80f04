import json
import re
from pathlib import Path

from chalicelib.platform.auth import STAFF_ROLES
from chalicelib.platform.permissions import PERMISSIONS, ROLES, allows, markdown_table, permissions_of, roles_for

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_the_readme_shows_the_permission_table_the_code_enforces() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- permissions:start -->") + len("<!-- permissions:start -->")
    end = text.index("<!-- permissions:end -->")
    assert text[start:end].strip() == markdown_table()


def test_the_table_knows_exactly_the_roles_a_token_may_carry() -> None:
    assert set(ROLES) == set(STAFF_ROLES)
    assert all(set(roles) <= set(ROLES) for roles, _ in PERMISSIONS.values())


def test_only_owners_and_managers_see_money_settings_and_audit() -> None:
    for permission in ("analytics.money", "settings.change", "audit.view", "billing.refund"):
        assert roles_for(permission) == ("owner", "manager")


def test_clinical_staff_upload_images_and_the_front_desk_posts_payments() -> None:
    assert allows("clinical", "images.manage") and not allows("front_desk", "images.manage")
    assert allows("front_desk", "billing.post") and not allows("clinical", "billing.post")
    assert "inbox.work" in permissions_of("front_desk")


def test_the_dashboards_copy_of_the_grants_matches_the_table_for_every_permission_it_names() -> None:
    """web/staff/desk.js hides controls the API would refuse; a stale copy would hide or show the wrong ones."""
    text = (ROOT / "web" / "staff" / "desk.js").read_text(encoding="utf-8")
    block = re.search(r"const GRANTS = \{(.*?)\};", text, re.S)
    assert block
    grants = {name: json.loads(roles) for name, roles in re.findall(r'"([a-z_.]+)":\s*(\[[^\]]*\])', block.group(1))}
    assert {"billing.post", "billing.refund", "images.manage", "patients.contact"} <= set(grants)
    for name, roles in grants.items():
        assert tuple(roles) == roles_for(name), name
