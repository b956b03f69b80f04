"""The image bucket behind a small interface: presigned POST and GET (SigV4), read, write, delete.

The bucket is private and KMS-encrypted; every object this code writes, and every upload it allows,
is ``aws:kms``. Keys come from ``images.model``; nothing here invents a key.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.images.model import TOO_LARGE, ObjectMissing, UploadRejected
from chalicelib.platform.aws import client
from chalicelib.platform.settings import get_settings

KMS = "aws:kms"


class ImageFiles(Protocol):
    def presign_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int, kms_key_id: str = ""
    ) -> dict[str, Any]: ...

    def presign_get(self, key: str, expires_in: int, content_type: str, download_name: str = "") -> str: ...

    def credentials_seconds_left(self) -> float | None: ...

    def read(self, key: str, max_bytes: int) -> bytes: ...

    def write(self, key: str, data: bytes, content_type: str, kms_key_id: str = "") -> None: ...

    def delete(self, key: str) -> None: ...


def bucket_cors_rules(site_origin: str) -> list[dict[str, Any]]:
    """The bucket's CORS: the site may POST uploads (presigned, so no other header is needed) and
    GET through presigned URLs. Nothing else, from nowhere else. Used by the local bootstrap and
    mirrored in infra/resources.yaml (CorsConfiguration.CorsRules)."""
    origin = site_origin.rstrip("/")
    return [
        {
            "AllowedOrigins": [origin],
            "AllowedMethods": ["POST", "GET", "HEAD"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3000,
        }
    ]


def bucket_encryption() -> dict[str, Any]:
    """Default encryption the bucket must carry (uploads also state it, so a policy can require it)."""
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": KMS}, "BucketKeyEnabled": True}]}


class S3ImageFiles:
    """The real bucket (moto locally and in tests). Reads the bucket name on every call: stage
    variables are only present during an invocation."""

    def _s3(self) -> Any:
        return client("s3")

    @property
    def bucket(self) -> str:
        return get_settings().image_bucket

    def presign_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int, kms_key_id: str = ""
    ) -> dict[str, Any]:
        fields: dict[str, str] = {"Content-Type": content_type, "x-amz-server-side-encryption": KMS}
        conditions: list[Any] = [
            {"Content-Type": content_type},
            ["content-length-range", 1, max_bytes],
            {"x-amz-server-side-encryption": KMS},
        ]
        if kms_key_id:
            fields["x-amz-server-side-encryption-aws-kms-key-id"] = kms_key_id
            conditions.append({"x-amz-server-side-encryption-aws-kms-key-id": kms_key_id})
        # boto adds the exact-key and bucket conditions itself.
        return dict(
            self._s3().generate_presigned_post(
                Bucket=self.bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
            )
        )

    def presign_get(self, key: str, expires_in: int, content_type: str, download_name: str = "") -> str:
        params: dict[str, str] = {"Bucket": self.bucket, "Key": key, "ResponseContentType": content_type}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        else:
            params["ResponseContentDisposition"] = "inline"
        return str(self._s3().generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))

    def credentials_seconds_left(self) -> float | None:
        """Seconds until the signing credentials expire, or None if they do not (static keys).
        Asking botocore for frozen credentials first lets it refresh ones that are nearly spent."""
        s3 = self._s3()
        credentials = getattr(getattr(s3, "_request_signer", None), "_credentials", None)
        expiry: datetime | None = None
        if credentials is not None and hasattr(credentials, "get_frozen_credentials"):
            credentials.get_frozen_credentials()
            expiry = getattr(credentials, "_expiry_time", None)
        if expiry is None:
            expiry = _expiry_from_environment()
        if expiry is None:
            return None
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)
        return (expiry - datetime.now(UTC)).total_seconds()

    def read(self, key: str, max_bytes: int) -> bytes:
        s3 = self._s3()
        try:
            found = s3.get_object(Bucket=self.bucket, Key=key)
        except s3.exceptions.NoSuchKey as exc:
            raise ObjectMissing(key) from exc
        body = found["Body"]
        try:
            if int(found.get("ContentLength", 0)) > max_bytes:
                raise UploadRejected(TOO_LARGE)
            data = bytes(body.read(max_bytes + 1))
        finally:
            body.close()
        if len(data) > max_bytes:
            raise UploadRejected(TOO_LARGE)
        return data

    def write(self, key: str, data: bytes, content_type: str, kms_key_id: str = "") -> None:
        extra: dict[str, str] = {"SSEKMSKeyId": kms_key_id} if kms_key_id else {}
        self._s3().put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, ServerSideEncryption=KMS, **extra
        )

    def delete(self, key: str) -> None:
        self._s3().delete_object(Bucket=self.bucket, Key=key)


def _expiry_from_environment() -> datetime | None:
    for name in ("AWS_CREDENTIAL_EXPIRATION", "AWS_SESSION_EXPIRATION"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
    return None
