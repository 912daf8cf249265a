#!/usr/bin/env python3
"""Publish to apigw-push and mint client tokens from Python, with boto3 and the standard library.

    # against the local stack (npm start): no AWS account, no credentials
    python3 examples/python/publish.py --local http://127.0.0.1:3000 token --uid u1 --topics orders
    python3 examples/python/publish.py --local http://127.0.0.1:3000 invoke --uid u1 --data '{"orderId": 42}'
    python3 examples/python/publish.py --local http://127.0.0.1:3000 sns --topic orders --data '"hello"'

    # against a deployed stack: the values are the stack's outputs
    python3 examples/python/publish.py token --uid u1 --secret-arn "$TOKEN_SECRET_ARN"
    python3 examples/python/publish.py invoke --uid u1 --data '{"orderId": 42}' --function-name "$PUBLISH_FUNCTION_ARN"
    python3 examples/python/publish.py sns --uid u1 --data '{"orderId": 42}' --topic-arn "$PUBLISH_TOPIC_ARN"

The functions are meant to be copied into a backend: `mint_token`, `SigningSecret` (Secrets
Manager, re-read every 5 minutes because the secret rotates), `publish_invoke` (raises
`PushApiError` with the wire code instead of returning an error payload) and `publish_sns`, both
giving each publish without an `id` a random one and a kick with revoke its `before` (`with_ids`), so
botocore's retries are one publish, or one kick.
Debian: `apt-get install python3-boto3`. No PyJWT needed.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import uuid

import boto3
from botocore.exceptions import NoRegionError

# DEV ONLY: the local stack's token secret (unless it was started with PUSH_TOKEN_SECRET). It is
# public; a deployed stack's authorizer reads its key from Secrets Manager instead.
DEV_TOKEN_SECRET = "dev-only-local-push-secret-never-use-in-aws"

# The local stack's Invoke function name and an SNS topic ARN it accepts (any well-formed one).
LOCAL_FUNCTION_NAME = "publish"
LOCAL_TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:push-publish"

# Never sign with a key read longer ago than this: the secret rotates, and the authorizer keeps
# accepting the key it replaced only until the next rotation.
SECRET_CACHE_SECONDS = 5 * 60


class PushApiError(Exception):
    """A refused or failed call, with the wire's stable code (bad_request, unavailable, ...)."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def retryable(self):
        return self.code in ("throttled", "unavailable")


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(secret, uid, topics=None, ttl_seconds=3600, audience=None, now=None):
    """An HS256 JWT the authorizer accepts: sub (the uid), iat, exp and, if given, topics and aud."""
    if not isinstance(uid, str) or uid == "":
        raise ValueError("uid must be a non-empty string")
    iat = int(time.time() if now is None else now)
    claims = {}
    if topics is not None:
        claims["topics"] = list(topics)
    claims.update({"sub": uid, "iat": iat, "exp": iat + int(ttl_seconds)})
    if audience is not None:
        claims["aud"] = audience
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


class SigningSecret:
    """The token secret's AWSCURRENT version, read from Secrets Manager at most every 5 minutes."""

    def __init__(self, secrets_client, secret_id, cache_seconds=SECRET_CACHE_SECONDS):
        if not 0 <= cache_seconds <= SECRET_CACHE_SECONDS:
            raise ValueError("cache_seconds must be between 0 and 300: the secret rotates")
        self._client = secrets_client
        self._secret_id = secret_id
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._value = None
        self._read_at = 0.0

    def get(self):
        with self._lock:
            if self._value is None or time.monotonic() - self._read_at >= self._cache_seconds:
                out = self._client.get_secret_value(SecretId=self._secret_id, VersionStage="AWSCURRENT")
                self._value = out["SecretString"]
                self._read_at = time.monotonic()
            return self._value


def with_ids(body, now=None):
    """The body with an "id" on the publish and on each batch item that has none. Without one the
    function names a publish after the request carrying it, and botocore retries a call whose
    answer was lost (a reset connection, a 5xx) as a new request: a publish that had already run
    would run again under another id, and clients would show it twice. For the same reason a kick
    with "revoke": true and no "before" gets this host's current second as its line: without one,
    each attempt draws the line from the function's clock, so a retry would move it forward and
    close the sessions the user opened since with a new token."""
    if isinstance(body, dict) and isinstance(body.get("kick"), dict):
        kick = body["kick"]
        if kick.get("revoke") is True and "before" not in kick:
            return {**body, "kick": {**kick, "before": int(time.time() if now is None else now)}}
        return body

    def named(item):
        if isinstance(item, dict) and "to" in item and "id" not in item:
            return {**item, "id": str(uuid.uuid4())}
        return item

    if isinstance(body, dict) and isinstance(body.get("batch"), list):
        return {**body, "batch": [named(item) for item in body["batch"]]}
    return named(body)


def publish_invoke(lambda_client, function_name, body):
    """Invokes the publish function with a body (publish, batch, presence, kick or status) and
    returns its answer. Lambda answers refused input with status 200 and {"error": ...} in the
    payload, and a function that threw with FunctionError: both are raised as PushApiError."""
    body = with_ids(body)
    out = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(body).encode("utf-8"))
    payload = json.loads(out["Payload"].read() or b"null")
    if out.get("FunctionError"):
        failure = payload or {}
        raise PushApiError(
            "unavailable",
            f"the publish function failed: {failure.get('errorType')}: {failure.get('errorMessage')}",
        )
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        raise PushApiError(payload["error"].get("code", "internal"), payload["error"].get("message", ""))
    return payload


def publish_sns(sns_client, topic_arn, body):
    """Publishes a body through the stack's SNS topic and returns {"messageId", "ids"}: SNS's id
    for the message and each publish's id in it (the body's own, or the one with_ids gave it),
    which status and the clients see. Fire and forget: refused input only shows in the publish
    function's logs."""
    body = with_ids(body)
    items = body["batch"] if isinstance(body, dict) and isinstance(body.get("batch"), list) else [body]
    out = sns_client.publish(TopicArn=topic_arn, Message=json.dumps(body))
    return {"messageId": out["MessageId"], "ids": [item.get("id") for item in items if isinstance(item, dict)]}


def _clients(args):
    if args.local is None:
        return boto3.session.Session()
    # The local stack does not check signatures, but botocore signs, so it needs some credentials.
    return boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
    )


def _client(args, service):
    session = _clients(args)
    if args.local is None:
        return session.client(service)
    return session.client(service, endpoint_url=args.local)


def _target(args):
    chosen = [t for t in (("uid", args.uid), ("topic", args.topic)) if t[1] is not None]
    if len(chosen) != 1:
        raise SystemExit("name exactly one target: --uid or --topic")
    return {chosen[0][0]: chosen[0][1]}


def _body(args):
    body = {"to": _target(args), "data": json.loads(args.data)}
    if args.id is not None:
        body["id"] = args.id
    return body


def main(argv=None):
    parser = argparse.ArgumentParser(description="Publish to apigw-push and mint client tokens.")
    parser.add_argument("--local", metavar="URL", help="the local stack, e.g. http://127.0.0.1:3000")
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="print a client token")
    token.add_argument("--uid", required=True)
    token.add_argument("--topics", default=None, help="comma-separated topics or prefix* patterns")
    token.add_argument("--ttl", type=int, default=3600)
    token.add_argument("--audience", default=None)
    token.add_argument("--secret-arn", default=None, help="the stack's TokenSecretArn output")

    for name in ("invoke", "sns"):
        command = commands.add_parser(name, help=f"publish through {'Lambda Invoke' if name == 'invoke' else 'SNS'}")
        command.add_argument("--uid")
        command.add_argument("--topic")
        command.add_argument("--data", required=True, help="the message data, as JSON")
        command.add_argument("--id", default=None)
    commands.choices["invoke"].add_argument("--function-name", default=LOCAL_FUNCTION_NAME)
    commands.choices["sns"].add_argument("--topic-arn", default=LOCAL_TOPIC_ARN)

    args = parser.parse_args(argv)
    try:
        if args.command == "token":
            if args.secret_arn is not None:
                secret = SigningSecret(_client(args, "secretsmanager"), args.secret_arn).get()
            else:
                secret = os.environ.get("PUSH_TOKEN_SECRET") or DEV_TOKEN_SECRET
            topics = None if args.topics is None else [t.strip() for t in args.topics.split(",") if t.strip()]
            print(mint_token(secret, args.uid, topics, args.ttl, args.audience))
        elif args.command == "invoke":
            print(json.dumps(publish_invoke(_client(args, "lambda"), args.function_name, _body(args))))
        else:
            print(json.dumps(publish_sns(_client(args, "sns"), args.topic_arn, _body(args))))
    except NoRegionError:
        # botocore's own check, before anything is sent: without --local the calls go to AWS.
        error = PushApiError(
            "internal",
            "no AWS region: set AWS_DEFAULT_REGION (boto3 does not read AWS_REGION) or a profile's region,"
            " or pass --local URL",
        )
    except PushApiError as refused:
        error = refused
    else:
        return 0
    print(json.dumps({"error": {"code": error.code, "message": error.message}}), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
