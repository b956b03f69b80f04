"""Staff directory on Cognito: USER_PASSWORD_AUTH against the dashboard's app client.

Errors become the directory exceptions of ``identity.model`` without their botocore cause, so no
traceback that mentions the call survives into a log. Username and password are never logged.
"""

from __future__ import annotations

from chalicelib.identity.model import ChallengeRequired, CredentialsRejected, DirectoryBusy
from chalicelib.platform.aws import client

# Unknown user, unconfirmed user and reset-required all read as "wrong email or password",
# so the answer never tells whether an account exists.
_REJECTED = {
    "NotAuthorizedException",
    "UserNotFoundException",
    "UserNotConfirmedException",
    "PasswordResetRequiredException",
}
_BUSY = {"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"}


class CognitoDirectory:
    def __init__(self, client_id: str) -> None:
        self.client_id = client_id

    def password_sign_in(self, username: str, password: str) -> tuple[str, int]:
        from botocore.exceptions import ClientError

        rejected: type[Exception] | None = None
        try:
            result = client("cognito-idp").initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _REJECTED:
                rejected = CredentialsRejected
            elif code in _BUSY:
                rejected = DirectoryBusy
            else:
                raise
        if rejected is not None:
            raise rejected()
        if result.get("ChallengeName"):
            raise ChallengeRequired(str(result["ChallengeName"]))
        auth = result["AuthenticationResult"]
        return str(auth["IdToken"]), int(auth.get("ExpiresIn", 3600))
