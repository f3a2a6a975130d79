"""A real OpenID Connect provider for mailgate's tests: oidc-provider-mock (Flask + Authlib, from
PyPI; scripts/test-services.sh installs it in its own venv), with two things a production provider
does and the mock leaves out switched on: PKCE (S256) is required and checked at the token
endpoint, and a nonce is required. Listens on a loopback port, over TLS with --cert/--key.

Users are predefined with --user-claims '{"sub": ..., "email": ..., "email_verified": true}' and
can be added or changed at run time with PUT /users/<sub> (a JSON object of claims). On the
authorization page a person types a subject (or clicks a predefined one) and presses Authorize,
or presses Deny (the redirect back then carries error=access_denied).
"""

import argparse
import json
import os
import sys

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import authlib.integrations.flask_oauth2 as flask_oauth2  # noqa: E402
import werkzeug.serving  # noqa: E402
from authlib.oauth2.rfc6749.errors import InvalidRequestError  # noqa: E402
from authlib.oauth2.rfc7636 import CodeChallenge  # noqa: E402

import oidc_provider_mock  # noqa: E402
from oidc_provider_mock import _app, _storage  # noqa: E402

# PKCE: the mock stores no code challenge, so keep them beside its codes, by code.
_challenges = {}
_save_code = _app.AuthorizationCodeGrant.save_authorization_code


def _save_with_challenge(self, code, request):
    _save_code(self, code, request)
    data = request.payload.data
    _challenges[code] = (data.get("code_challenge"), data.get("code_challenge_method"))


_app.AuthorizationCodeGrant.save_authorization_code = _save_with_challenge
_storage.AuthorizationCode.code_challenge = property(lambda self: _challenges.get(self.code, (None, None))[0])
_storage.AuthorizationCode.code_challenge_method = property(
    lambda self: _challenges.get(self.code, (None, None))[1]
)


class RequiredPkce(CodeChallenge):
    """Authlib's check, and no authorization request without a challenge (Authlib lets a
    confidential client leave it out)."""

    def validate_code_challenge(self, grant, redirect_uri):
        if not grant.request.payload.data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        return super().validate_code_challenge(grant, redirect_uri)


_register_grant = flask_oauth2.AuthorizationServer.register_grant


def _register_with_pkce(self, grant_cls, extensions=None):
    if grant_cls is _app.AuthorizationCodeGrant:
        extensions = [*(extensions or []), RequiredPkce()]
    return _register_grant(self, grant_cls, extensions)


flask_oauth2.AuthorizationServer.register_grant = _register_with_pkce


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user-claims", action="append", default=[])
    args = parser.parse_args()
    users = []
    for text in args.user_claims:
        claims = json.loads(text)
        sub = claims.pop("sub")
        users.append(oidc_provider_mock.User(sub=sub, claims=claims))
    app = oidc_provider_mock.app(require_nonce=True, user_claims=users)
    ssl = (args.cert, args.key) if args.cert else None
    server = werkzeug.serving.make_server(args.host, args.port, app, threaded=True, ssl_context=ssl)
    print(f"oidc provider listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
