#!/bin/sh
# `make deploy`: upload out/ (from `make package`) and create or update the stack, then publish web/.
# Walkthrough and prerequisites: docs/deploy.md. Nothing here runs without a working AWS profile.
set -eu

STACK="${STACK:-chairside}"
fail() { echo "make deploy: $*" >&2; exit 1; }

command -v aws >/dev/null 2>&1 || fail "the AWS CLI v2 is not installed (https://docs.aws.amazon.com/cli/)"
[ -n "${AWS_PROFILE:-}" ] || fail "set AWS_PROFILE to the practice account's profile (aws configure sso)"
[ -n "${AWS_REGION:-}" ] || AWS_REGION="$(aws configure get region || true)"
[ -n "${AWS_REGION:-}" ] || fail "set AWS_REGION (or a region in the profile)"
export AWS_PROFILE AWS_REGION
[ -n "${DOMAIN:-}" ] || fail "set DOMAIN (the portal host name, e.g. portal.mapledental.com)"
[ -n "${CERTIFICATE_ARN:-}" ] || fail "set CERTIFICATE_ARN (ACM certificate in us-east-1 for DOMAIN)"
[ -n "${SENDER:-}" ] || fail "set SENDER (the From address, e.g. reminders@mapledental.com)"
case "$STACK" in *[!a-z0-9-]*) fail "STACK must be lower case letters, digits and dashes (it names buckets)";; esac
[ -f out/sam.yaml ] || fail "out/sam.yaml is missing: run make package"

ACCOUNT="$(aws sts get-caller-identity --query Account --output text 2>/dev/null)" \
  || fail "no valid credentials for profile $AWS_PROFILE (try: aws sso login --profile $AWS_PROFILE)"
ARTIFACTS="${ARTIFACT_BUCKET:-$STACK-artifacts-$ACCOUNT-$AWS_REGION}"

if ! aws s3api head-bucket --bucket "$ARTIFACTS" >/dev/null 2>&1; then
  echo "creating artifact bucket $ARTIFACTS"
  if [ "$AWS_REGION" = us-east-1 ]; then
    aws s3api create-bucket --bucket "$ARTIFACTS" >/dev/null
  else
    aws s3api create-bucket --bucket "$ARTIFACTS" --create-bucket-configuration "LocationConstraint=$AWS_REGION" >/dev/null
  fi
  aws s3api put-public-access-block --bucket "$ARTIFACTS" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
fi

aws cloudformation package --template-file out/sam.yaml --s3-bucket "$ARTIFACTS" --s3-prefix "$STACK" \
  --output-template-file out/packaged.yaml
aws cloudformation deploy --template-file out/packaged.yaml --stack-name "$STACK" \
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
  --parameter-overrides "DomainName=$DOMAIN" "CertificateArn=$CERTIFICATE_ARN" "SenderAddress=$SENDER" \
  "SmsOriginationNumber=${SMS_NUMBER:-}" "SecretsPath=${SECRETS_PATH:-/chairside/prod}" "AlarmEmail=${ALARM_EMAIL:-}" \
  "StripePublishableKey=${STRIPE_PUBLISHABLE_KEY:-}"

output() {
  aws cloudformation describe-stacks --stack-name "$STACK" --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
SITE_BUCKET="$(output SiteBucketName)"
DISTRIBUTION="$(output DistributionId)"

# The pages read /config.js; the API is on the same host under /api. The local outbox never ships.
printf 'window.CHAIRSIDE_CONFIG = {"apiBase": "https://%s/api", "practiceId": "%s"};\n' "$DOMAIN" "${PRACTICE_ID:-}" > out/config.js
aws s3 sync web/ "s3://$SITE_BUCKET/" --delete --exclude "outbox/*" --exclude "README.md" --exclude "config.js"
aws s3 cp out/config.js "s3://$SITE_BUCKET/config.js" --cache-control "no-cache"
aws cloudfront create-invalidation --distribution-id "$DISTRIBUTION" --paths "/*" >/dev/null

echo "Deployed stack $STACK. Next steps (docs/deploy.md): DNS for $DOMAIN -> $(output CloudFrontTarget),"
echo "DKIM records: $(output DkimRecords)"
echo "SMS two-way destination: $(output InboundSmsTopicArn)"
