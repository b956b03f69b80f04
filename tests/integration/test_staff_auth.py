from __future__ import annotations

import gzip
import json
import time
from importlib import resources

import jwt
from chalice.test import Client
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.platform.deps import Deps
from chalicelib.practices.store import PracticeStore
from tests import factories
from tests.integration.conftest import StaffTokens


def _seed(d: Deps) -> None:
    PracticeStore().put(factories.maple())
    PracticeStore().put(factories.birch())


def test_staff_of_the_practice_reads_its_day_sheet(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    _seed(app_deps)
    response = api.http.get("/practices/P1/day?date=2027-03-15", headers=staff.headers("P1", "front_desk"))
    assert response.status_code == 200, response.body
    assert response.json_body["practice"]["zone"] == "America/New_York"


def test_staff_of_another_practice_get_404_like_a_missing_practice(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    _seed(app_deps)
    foreign = api.http.get("/practices/P1/day?date=2027-03-15", headers=staff.headers("P2"))
    missing = api.http.get("/practices/P404/day?date=2027-03-15", headers=staff.headers("P2"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json_body == missing.json_body


def test_missing_token_is_401(api: Client, app_deps: Deps) -> None:
    response = api.http.get("/practices/P1/day")
    assert response.status_code == 401
    assert response.json_body["error"]["code"] == "missing_token"


def test_forged_token_signed_with_another_key_is_401(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    real = jwt.decode(staff.token("P1"), options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(real, other_key, algorithm="RS256", headers={"kid": "dummy"})
    response = api.http.get("/practices/P1/day", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json_body["error"]["code"] == "invalid_token"


def _moto_signed(claims: dict[str, object]) -> str:
    """Signs with the key pair moto's Cognito uses, so only the claims differ from a real token."""
    packed = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    private = jwt.PyJWK(json.loads(gzip.decompress(packed)))
    return jwt.encode(claims, private.key, algorithm="RS256", headers={"kid": "dummy"})


def test_expired_token_is_401(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    claims = jwt.decode(staff.token("P1"), options={"verify_signature": False})
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    response = api.http.get("/practices/P1/day", headers={"Authorization": f"Bearer {_moto_signed(claims)}"})
    assert response.status_code == 401
    assert response.json_body["error"]["code"] == "token_expired"


def test_token_for_another_app_client_or_issuer_is_401(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    claims = jwt.decode(staff.token("P1"), options={"verify_signature": False})
    for changed in ({"aud": "some-other-client"}, {"iss": "https://cognito-idp.us-east-1.amazonaws.com/other"}):
        token = _moto_signed({**claims, **changed})
        response = api.http.get("/practices/P1/day", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, changed


def test_a_correctly_signed_token_is_accepted(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    _seed(app_deps)
    claims = jwt.decode(staff.token("P1"), options={"verify_signature": False})
    response = api.http.get("/practices/P1/day", headers={"Authorization": f"Bearer {_moto_signed(claims)}"})
    assert response.status_code == 200


def test_access_token_is_not_accepted_in_place_of_an_id_token(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    from chalicelib.platform.aws import client

    staff.token("P1")
    result = client("cognito-idp").initiate_auth(
        ClientId=staff.pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "owner.p1@example.test", "PASSWORD": "Test-password-1"},
    )
    access = result["AuthenticationResult"]["AccessToken"]
    response = api.http.get("/practices/P1/day", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 401
