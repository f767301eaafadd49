#!/usr/bin/env python3
"""Test-only launcher for moto's server (moto 5.2.x), used by test/helpers/moto.ts.

It starts the same WSGI application as `python3 -m moto.server` on 127.0.0.1, after patching a few
moto bugs that break the AWS SDK for JavaScript v3. These patches exist ONLY in the test harness:
the product must never bend around an emulator bug. Every patch names the moto behaviour it fixes.

Usage:
    python3 test/helpers/moto_launcher.py --port 0 --log /tmp/x/requests.jsonl [--exit-on-stdin-eof]

On success it prints one line on stdout: `MOTO_READY port=<port>` (port 0 asks the OS for a free
port, which avoids the find-a-port-then-bind race).

Request log: every HTTP request is written, *before* its response is sent to the client, as one JSON
object per line to --log (and as a readable line on stderr), with the method, raw path, raw query,
status, the signing service (from the Authorization credential scope) and the operation name (from
X-Amz-Target for JSON APIs such as KMS, or the Action= form/query parameter for IAM/STS), the
Range request header and the response's Content-Length.

Root credentials: with --root-key (default `testing`), requests signed with that access key id and
the secret given by --root-secret (default `testing`) act as the account's root user, i.e. are
allowed everything, and keep working across `POST /moto-api/reset`. Stock moto only knows access
keys of IAM users it has created, so with auth on nothing could ever bootstrap the test data
(AWS itself behaves this way: the root user of an account is not subject to identity policies).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import email.utils
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

try:
    import moto  # noqa: F401
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        f"moto is not installed for {sys.executable} ({exc}): pip install 'moto[server]'\n"
    )
    sys.exit(3)

ROOT_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


# --------------------------------------------------------------------------------------------------
# Patch (a): GetObjectAttributes sends `Last-Modified` in ISO-8601.
# moto 5.2.1 moto/s3/responses.py S3Response.get_object_attributes sets
#   response_headers["Last-Modified"] = key.last_modified_ISO8601      (e.g. 2024-05-01T10:00:00.000Z)
# HTTP headers carry RFC 7231 IMF-fixdate (`Wed, 01 May 2024 10:00:00 GMT`); the JS SDK v3 throws
# `Invalid RFC7231 date-time value` on the 200 response. Rewrite the header to RFC 7231.
# --------------------------------------------------------------------------------------------------
def _to_rfc7231(value: str) -> str:
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # already RFC 7231 (or something else we leave alone)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return email.utils.format_datetime(parsed.astimezone(_dt.timezone.utc), usegmt=True)


def patch_get_object_attributes_last_modified() -> None:
    from moto.s3.responses import S3Response

    original = S3Response.get_object_attributes

    def get_object_attributes(self: Any) -> Any:
        status, headers, body = original(self)
        for name in list(headers.keys()):
            if name.lower() == "last-modified" and isinstance(headers[name], str):
                headers[name] = _to_rfc7231(headers[name])
        return status, headers, body

    S3Response.get_object_attributes = get_object_attributes  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------------
# Patch (e): GetObjectAttributes honours only the first requested attribute from the JS SDK.
# moto 5.2.1 S3Response.get_object_attributes splits `x-amz-object-attributes` on "," without
# trimming; the JS SDK v3 sends the list as `ETag, ObjectSize, StorageClass` (", " separated, as HTTP
# list headers are), so every attribute after the first (" ObjectSize") is silently left out of the
# response. Trim the names before moto's S3Backend.get_object_attributes looks them up.
# --------------------------------------------------------------------------------------------------
def patch_get_object_attributes_list_header() -> None:
    from moto.s3.models import S3Backend

    original = S3Backend.get_object_attributes

    def get_object_attributes(self: Any, key: Any, attributes_to_get: list[str]) -> Any:
        return original(self, key, [a.strip() for a in attributes_to_get])

    S3Backend.get_object_attributes = get_object_attributes  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------------
# Patch (b): SigV4 is verified against a URL werkzeug has already decoded and re-quoted.
# moto 5.2.1 moto/core/authorization.py ActionAuthenticatorMixin._authenticate_and_authorize_action
# builds the path it re-signs from `self.uri`, i.e. flask's `request.url`, which werkzeug rebuilt from
# the *decoded* PATH_INFO and re-quoted with its own safe set (`/ : , @ + ! $ & ' ( ) * ; =` stay
# literal) and moto/iam/access_control.py IAMRequestBase._create_aws_request hands that to botocore,
# whose S3 signer uses the path verbatim and takes the query string verbatim. A request the SDK signed
# over `/b/a%20b%2Bc%3A%40.txt` (RFC 3986 encoding, as SigV4 requires) is therefore checked against
# `/b/a%20b+c:@.txt` and fails with 403 SignatureDoesNotMatch; the same for query values containing
# `/ : , @` (e.g. `prefix=a/b`, `versionId`, `continuation-token`).
# Fix: rebuild the canonical URI and canonical query string from the raw request target as received
# on the wire (werkzeug's RAW_URI), normalised the way AWS does: every path segment / query key and
# value is percent-decoded once and re-encoded with the SigV4 encoder (unreserved characters
# `A-Z a-z 0-9 - _ . ~` literal, everything else %XX, `/` literal in paths). botocore's S3 signer
# uses that path as-is; its generic signer encodes it once more, which is the SigV4 rule for non-S3
# services. The payload hash, headers and everything else are still checked by moto as before.
# --------------------------------------------------------------------------------------------------
def _canonical_path(raw_path: str) -> str:
    if not raw_path:
        return "/"
    return quote(unquote(raw_path), safe="/~")


def _canonical_query(raw_query: str) -> str:
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if part == "":
            continue
        key, _, value = part.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _raw_request_target() -> str | None:
    try:
        from flask import has_request_context, request

        if not has_request_context():
            return None
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    except Exception:  # pragma: no cover - defensive
        return None
    if not raw:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    # werkzeug's `_wsgi_encoding_dance`: bytes shown as latin-1; give back the real text.
    try:
        raw = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    if "://" in raw.split("?", 1)[0]:  # absolute-form request target (proxies)
        parts = urlsplit(raw)
        raw = parts.path + (f"?{parts.query}" if parts.query else "")
    return raw


def patch_signature_uses_raw_uri() -> None:
    from botocore.awsrequest import AWSRequest
    from moto.iam.access_control import IAMRequestBase

    def _create_aws_request(self: Any) -> AWSRequest:
        signed_headers = self._get_string_between(
            "SignedHeaders=", ",", self._headers["Authorization"]
        ).split(";")
        headers = self._create_headers_for_aws_request(signed_headers, self._headers)
        raw = _raw_request_target()
        if raw is None:
            url = self._path  # not a werkzeug request: keep moto's behaviour
        else:
            raw_path, _, raw_query = raw.partition("?")
            url = _canonical_path(raw_path)
            query = _canonical_query(raw_query)
            if query:
                url += "?" + query
        request = AWSRequest(
            method=self._method,
            url=url,
            data=self._body or self._data,
            headers=headers,
        )
        request.context["timestamp"] = headers["X-Amz-Date"]
        return request

    IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------------
# Patch (c): KMS authentication/authorisation failures come back as XML.
# moto 5.2.1 moto/core/responses.py BaseResponse.call_action catches the HTTPException raised by
# _authenticate_and_authorize_normal_action (moto/core/exceptions.py AccessDeniedError,
# SignatureDoesNotMatchError, InvalidClientTokenIdError: all XML `<ErrorResponse>` bodies, HTTP 403)
# and returns its XML description for every service. KMS speaks awsJson1_1: the JS SDK cannot parse
# that body and surfaces a generic deserialization error instead of AccessDeniedException.
# Fix: for KMS, turn those failures into the JSON error KMS really sends: HTTP 400,
# `Content-Type: application/x-amz-json-1.1`, `x-amzn-ErrorType`, body
# `{"__type": "AccessDeniedException", "message": "User: ... is not authorized to perform: kms:X ..."}`
# (InvalidSignatureException / UnrecognizedClientException for bad signatures / unknown keys).
# --------------------------------------------------------------------------------------------------
_KMS_ERROR_MAP = {
    "AccessDenied": "AccessDeniedException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "InvalidClientTokenId": "UnrecognizedClientException",
}


def patch_kms_json_auth_errors() -> None:
    from moto.core.exceptions import JsonRESTError, _RESTError
    from moto.kms.responses import KmsResponse

    original = KmsResponse._authenticate_and_authorize_normal_action

    def _authenticate_and_authorize_normal_action(self: Any, resource: str = "*") -> Any:
        try:
            return original(self, resource)
        except _RESTError as err:
            if isinstance(err, JsonRESTError):
                raise
            error_type = _KMS_ERROR_MAP.get(err.error_type, err.error_type)
            message = err.message
            if error_type == "AccessDeniedException" and resource != "*":
                message = f"{message} on resource: {resource}"
            raise _KmsJsonError(error_type, message) from None

    KmsResponse._authenticate_and_authorize_normal_action = (  # type: ignore[method-assign]
        _authenticate_and_authorize_normal_action
    )

    original_call_action = KmsResponse.call_action

    def call_action(self: Any) -> Any:
        try:
            return original_call_action(self)
        except _KmsJsonError as err:
            headers = dict(self.response_headers)
            headers.update(
                {
                    "Content-Type": "application/x-amz-json-1.1",
                    "x-amzn-ErrorType": err.error_type,
                    "status": "400",
                }
            )
            body = json.dumps({"__type": err.error_type, "message": err.message})
            return 400, headers, body

    KmsResponse.call_action = call_action  # type: ignore[method-assign]


class _KmsJsonError(Exception):
    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type
        self.message = message


# --------------------------------------------------------------------------------------------------
# Patch (d): KMS authorises every call against Resource "*".
# moto 5.2.1 KmsResponse has no _determine_resource, so BaseResponse.call_action checks identity
# policies against the resource "*": a statement scoped to a key ARN never matches (and a Deny on one
# key denies nothing). Resolve the request's KeyId (id, ARN, alias name or alias ARN) to the key ARN.
# --------------------------------------------------------------------------------------------------
def patch_kms_resource_arn() -> None:
    from moto.kms.models import kms_backends
    from moto.kms.responses import KmsResponse

    def _determine_resource(self: Any) -> str:
        try:
            params = json.loads(self.body or "{}")
            key_id = params.get("KeyId") or params.get("SourceKeyId")
            if not isinstance(key_id, str) or not key_id:
                return "*"
            backend = kms_backends[self.current_account][self.region]
            resolved = backend.any_id_to_key_id(key_id)
            key = backend.keys.get(resolved)
            return key.arn if key is not None else "*"
        except Exception:
            return "*"

    KmsResponse._determine_resource = _determine_resource  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# Patch (f): policy Action/Resource patterns are used as regular expressions.
# moto 5.2.1 moto/iam/access_control.py IAMPolicyStatement._match only turns `*` into `.*` and
# hands the rest to re.match, so `.` matches any character and `+ ( ) [ ] ? $ ^ |` in an ARN are
# regex syntax: an Allow on `arn:aws:s3:::b/a+b (1).dcm` never matches that key (or raises on an
# unbalanced parenthesis). IAM wildcards are only `*` (any run) and `?` (one character); everything
# else is literal. Resource ARNs stay case-sensitive; action names stay case-sensitive as in stock
# moto (AWS compares them case-insensitively; not changed here, see test-infra.md).
# --------------------------------------------------------------------------------------------------
def patch_policy_wildcard_match() -> None:
    import re

    from moto.iam.access_control import IAMPolicyStatement

    def _match(pattern: str, string: str) -> Any:
        regex = "".join(
            ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern
        )
        return re.match(f"^{regex}$", string, re.DOTALL)

    IAMPolicyStatement._match = staticmethod(_match)  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------------
# Root credentials (see module docstring). Not a moto bug: a harness convenience so that tests can
# seed data with auth on, and so that `POST /moto-api/reset` does not lock them out.
# --------------------------------------------------------------------------------------------------
def patch_head_bucket_action() -> None:
    """(g) moto authorises HeadBucket as a pseudo-action "s3:HeadBucket"; AWS authorises it as
    s3:ListBucket (moto/s3/responses.py ACTION_MAP["BUCKET"]["HEAD"]). Without this, no identity
    policy written for real AWS lets a role call HeadBucket on moto."""
    from moto.s3 import responses

    responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"


def patch_root_credentials(root_key: str, root_secret: str) -> None:
    from botocore.credentials import Credentials
    from moto.iam import access_control

    original = access_control.create_access_key

    class RootAccessKey:
        def __init__(self, account_id: str, partition: str):
            self.account_id = account_id
            self.partition = partition

        @property
        def arn(self) -> str:
            return f"arn:{self.partition}:iam::{self.account_id}:root"

        def create_credentials(self) -> Any:
            return Credentials(root_key, root_secret)

        def collect_policies(self) -> list[Any]:
            return [json.dumps(ROOT_POLICY)]

    def create_access_key(
        account_id: str, partition: str, access_key_id: str, headers: dict[str, str]
    ) -> Any:
        if access_key_id == root_key and "X-Amz-Security-Token" not in headers:
            return RootAccessKey(account_id, partition)
        return original(
            account_id=account_id,
            partition=partition,
            access_key_id=access_key_id,
            headers=headers,
        )

    access_control.create_access_key = create_access_key


# --------------------------------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------------------------------
class RequestLog:
    def __init__(self, path: str | None, echo: bool):
        self._lock = threading.Lock()
        self._fh = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self._echo = echo

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock:
            if self._fh is not None:
                self._fh.write(line + "\n")
                self._fh.flush()
            if self._echo:
                query = f"?{entry['query']}" if entry["query"] else ""
                op = entry.get("op") or "-"
                sys.stderr.write(
                    f'moto: "{entry["method"]} {entry["path"]}{query} HTTP/1.1" '
                    f'{entry["status"]} {entry.get("service") or "-"} {op}\n'
                )
                sys.stderr.flush()


def _service_from_auth(auth: str) -> str | None:
    # AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, SignedHeaders=..., ...
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0]
        return scope.split("/")[3]
    except IndexError:
        return None


def _bucket_region(name: str) -> str | None:
    from moto.s3.models import s3_backends

    for by_partition in s3_backends.values():
        for backend in by_partition.values():
            bucket = backend.buckets.get(name)
            if bucket is not None:
                return bucket.region_name
    return None


def _with_bucket_region(headers: list[Any], raw_path: str) -> list[Any]:
    """(h) AWS sends x-amz-bucket-region on HeadBucket even when it answers 403 (clients learn the
    region from it); moto's authorisation failure carries no such header. Path-style only."""
    parts = [p for p in raw_path.split("/") if p]
    if len(parts) != 1 or any(name.lower() == "x-amz-bucket-region" for name, _ in headers):
        return headers
    try:
        region = _bucket_region(parts[0])
    except Exception:  # the emulator's internals moved: leave the answer as moto made it
        region = None
    return headers + [("x-amz-bucket-region", region)] if region else headers


class LoggingMiddleware:
    """Logs every request (with its operation) before the response reaches the client."""

    def __init__(self, app: Any, log: RequestLog, region_on_403: bool = True):
        self.app = app
        self.log = log
        self.region_on_403 = region_on_403

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        raw = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
        raw_path, _, raw_query = raw.partition("?")
        if not raw_query:
            raw_query = environ.get("QUERY_STRING", "")
        method = environ.get("REQUEST_METHOD", "")
        target = environ.get("HTTP_X_AMZ_TARGET")
        service = _service_from_auth(environ.get("HTTP_AUTHORIZATION", "") or "")
        op = None
        if target:
            prefix, _, op = target.partition(".")
            if service is None and prefix == "TrentService":
                service = "kms"
        else:
            op = self._action(environ, raw_query)
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": method,
            "path": raw_path,
            "query": raw_query,
            "status": 0,
            "service": service,
            "op": op,
            "target": target,
            # The Range request header and the response's Content-Length: tests count the bytes a
            # ranged GetObject really returned (e.g. how little of each DICOM object a scan reads).
            "range": environ.get("HTTP_RANGE"),
            "length": None,
        }
        logged = False

        def _start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            nonlocal logged
            try:
                entry["status"] = int(status.split(" ", 1)[0])
            except ValueError:
                entry["status"] = 0
            if self.region_on_403 and method == "HEAD" and entry["status"] == 403:
                headers = _with_bucket_region(list(headers or []), raw_path)
            for name, value in headers or []:
                if name.lower() == "content-length":
                    try:
                        entry["length"] = int(value)
                    except ValueError:
                        pass
            if not logged:
                logged = True
                self.log.write(entry)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, _start_response)
        except BaseException:
            if not logged:
                logged = True
                entry["status"] = 500
                self.log.write(entry)
            raise

    @staticmethod
    def _action(environ: dict[str, Any], raw_query: str) -> str | None:
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            if key == "Action":
                return value
        content_type = environ.get("CONTENT_TYPE", "") or ""
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length <= 0 or length > 10 * 1024 * 1024:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
                if key == "Action":
                    return value
        except UnicodeDecodeError:
            return None
        return None


class QuietHandler(WSGIRequestHandler):
    """werkzeug's own access log is replaced by the richer RequestLog lines."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--log", default=None, help="append JSON request lines to this file")
    parser.add_argument("--quiet", action="store_true", help="no request lines on stderr")
    parser.add_argument("--root-key", default="testing")
    parser.add_argument("--root-secret", default="testing")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="exit when stdin closes (the parent process died)",
    )
    parser.add_argument(
        "--without-patch",
        action="append",
        default=[],
        choices=["a", "b", "c", "d", "e", "f", "g", "h"],
        help="leave one of the moto patches out (to see the moto bug it fixes)",
    )
    args = parser.parse_args(argv)

    skip = set(args.without_patch)
    if "a" not in skip:
        patch_get_object_attributes_last_modified()
    if "b" not in skip:
        patch_signature_uses_raw_uri()
    if "c" not in skip:
        patch_kms_json_auth_errors()
    if "d" not in skip:
        patch_kms_resource_arn()
    if "e" not in skip:
        patch_get_object_attributes_list_header()
    if "f" not in skip:
        patch_policy_wildcard_match()
    if "g" not in skip:
        patch_head_bucket_action()
    if args.root_key:
        patch_root_credentials(args.root_key, args.root_secret)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    log = RequestLog(args.log, echo=not args.quiet)
    app = LoggingMiddleware(DomainDispatcherApplication(create_backend_app), log, region_on_403="h" not in skip)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=QuietHandler)
    port = server.server_port
    # moto uses MOTO_PORT when it builds URLs pointing at itself.
    os.environ.setdefault("MOTO_PORT", str(port))

    def _stop(*_: Any) -> None:
        os._exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.exit_on_stdin_eof:

        def _watch_stdin() -> None:
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except Exception:
                pass
            os._exit(0)

        threading.Thread(target=_watch_stdin, daemon=True).start()

    sys.stdout.write(f"MOTO_READY port={port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
