"""Creates the AWS resources the app expects, against whatever AWS endpoint is configured.

Used by the local runner (moto's server) and by tests (moto in process). Production resources
come from infra/resources.yaml instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.images.files import bucket_cors_rules
from chalicelib.platform.aws import client
from chalicelib.platform.settings import get_settings
from chalicelib.platform.table import create_table


@dataclass(frozen=True)
class StaffUser:
    username: str
    password: str
    practice_id: str
    role: str
    name: str = ""  # display name (the "name" attribute): patients' access logs show it


@dataclass(frozen=True)
class UserPool:
    pool_id: str
    client_id: str


def create_resources() -> None:
    settings = get_settings()
    create_table()
    s3 = client("s3")
    s3.create_bucket(Bucket=settings.image_bucket)
    s3.put_public_access_block(
        Bucket=settings.image_bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    # The staff card posts uploads straight to the bucket from the site's origin; AWS allows that only through
    # the bucket's CORS rules (infra/resources.yaml). moto's server checks a preflight against a bucket's rules
    # once it has some (403 for another origin) and answers any origin otherwise, so these keep it as strict.
    s3.put_bucket_cors(
        Bucket=settings.image_bucket, CORSConfiguration={"CORSRules": bucket_cors_rules(settings.web_base_url)}
    )
    client("sesv2").create_email_identity(EmailIdentity=settings.sender_email)


def create_user_pool(name: str = "chairside-staff") -> UserPool:
    idp = client("cognito-idp")
    pool = idp.create_user_pool(
        PoolName=name,
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 12,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": False,
            }
        },
        Schema=[
            {"Name": "practice_id", "AttributeDataType": "String", "Mutable": False},
            {"Name": "role", "AttributeDataType": "String", "Mutable": True},
        ],
        UsernameAttributes=["email"],
    )["UserPool"]
    app_client = idp.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="chairside-dashboard",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        # What the ID token carries (moto puts only these standard attributes in it; Cognito, all readable ones).
        ReadAttributes=[
            "email",
            "email_verified",
            "name",
            "given_name",
            "family_name",
            "custom:practice_id",
            "custom:role",
        ],
    )["UserPoolClient"]
    return UserPool(pool["Id"], app_client["ClientId"])


def add_staff_user(pool: UserPool, user: StaffUser) -> None:
    idp = client("cognito-idp")
    idp.admin_create_user(
        UserPoolId=pool.pool_id,
        Username=user.username,
        MessageAction="SUPPRESS",
        UserAttributes=[
            {"Name": "email", "Value": user.username},
            {"Name": "email_verified", "Value": "true"},
            {"Name": "custom:practice_id", "Value": user.practice_id},
            {"Name": "custom:role", "Value": user.role},
            *([{"Name": "name", "Value": user.name}] if user.name else []),
        ],
    )
    idp.admin_set_user_password(UserPoolId=pool.pool_id, Username=user.username, Password=user.password, Permanent=True)


def sign_in(pool: UserPool, username: str, password: str) -> str:
    """The staff ID token for a username and password (USER_PASSWORD_AUTH)."""
    result = client("cognito-idp").initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])
