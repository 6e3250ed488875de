"""Emulator layer: accounts and the Azure AD B2C login flow.

The flow has the steps of the service's B2C policy, under
``/b2c/<tenant>/<policy>/``:

1. ``GET oauth2/v2.0/authorize`` returns the sign-in page. Its ``SETTINGS``
   script holds ``csrf`` and ``transId``, and the response sets the
   ``x-ms-cpim-csrf`` and ``x-ms-cpim-trans`` cookies.
2. ``POST SelfAsserted?tx=<transId>&p=<policy>`` with the form fields
   ``request_type=RESPONSE``, ``email`` and ``password`` and the header
   ``X-CSRF-TOKEN`` (the csrf value) returns ``{"status": "200"}``, or
   ``{"status": "400", "errorCode": ..., "message": ...}`` for a wrong
   password, still with HTTP 200 as B2C does.
3. ``GET api/CombinedSigninAndSignup/confirmed?rememberMe=true&csrf_token=
   <csrf>&tx=<transId>&p=<policy>`` redirects (302) to the redirect URI
   with ``#access_token=...&token_type=Bearer&expires_in=...&refresh_token=
   ...&id_token=...&state=...``.

``POST oauth2/v2.0/token`` takes ``grant_type=refresh_token`` (a refresh
token is good for one use and the answer carries a new one) or
``grant_type=password`` (the resource-owner password grant).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from toutvfs.config import Config
from toutvfs.emulator.handler import Request, Response, json_response, text_response
from toutvfs.emulator.model import Account, Catalogue
from toutvfs.emulator.tokens import InvalidToken, JwtSigner

WRONG_PASSWORD_CODE = "AADB2C90225"
WRONG_PASSWORD_MESSAGE = (
    "Le nom d'utilisateur ou le mot de passe fourni dans la demande n'est pas valide."
)
# Unfinished logins are forgotten after this many seconds.
TRANSACTION_LIFETIME = 600.0
REFRESH_TOKEN_LIFETIME = 14 * 24 * 3600.0


@dataclass
class _Transaction:
    csrf: str
    redirect_uri: str
    state: str
    nonce: str
    created: float
    email: str | None = None


class LoginService:
    """The accounts of a catalogue, their tokens and the B2C login flow."""

    def __init__(
        self,
        catalogue: Catalogue,
        base_url: str,
        signer: JwtSigner,
        token_lifetime: float,
        clock: Any = time.time,
    ) -> None:
        self.catalogue = catalogue
        self.base_url = base_url
        self.signer = signer
        self.token_lifetime = token_lifetime
        self.client_id = Config().client_id
        self.redirect_uri = Config.for_emulator(base_url).redirect_uri
        self._clock = clock
        self._lock = threading.Lock()
        self._transactions: dict[str, _Transaction] = {}
        self._refresh_tokens: dict[str, tuple[str, float]] = {}

    # Tokens

    def subject(self, account: Account) -> str:
        return hashlib.sha256(account.email.lower().encode()).hexdigest()[:32]

    def issue(self, account: Account) -> dict[str, Any]:
        """Return a fresh set of tokens for *account*."""
        claims = {
            "sub": self.subject(account),
            "email": account.email,
            "tier": account.tier,
            "aud": self.client_id,
            "iss": f"{self.base_url}/b2c/",
        }
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            expiry = self._clock() + REFRESH_TOKEN_LIFETIME
            self._refresh_tokens[refresh] = (account.email, expiry)
        return {
            "access_token": self.signer.encode(
                {**claims, "scp": "media-validation ott-subscription"},
                self.token_lifetime,
            ),
            "id_token": self.signer.encode(claims, self.token_lifetime),
            "token_type": "Bearer",
            "expires_in": int(self.token_lifetime),
            "refresh_token": refresh,
        }

    def claims_token(self, account: Account) -> str:
        return self.signer.encode(
            {"sub": self.subject(account), "tier": account.tier, "kind": "claims"},
            self.token_lifetime,
        )

    def bearer_account(self, request: Request) -> Account | None:
        """Return the account of the request's bearer token.

        Raises:
            InvalidToken: the ``Authorization`` header holds a bearer token
                that is malformed, expired or not for a known account.
        """
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        claims = self.signer.decode(token.strip())
        account = self.catalogue.account(str(claims.get("email", "")))
        if account is None or claims.get("kind") == "claims":
            raise InvalidToken("unknown account")
        return account

    def check_claims(self, request: Request, account: Account) -> None:
        """Raise `InvalidToken` unless ``x-claims-token`` belongs to *account*."""
        token = request.header("x-claims-token")
        if not token:
            raise InvalidToken("missing claims token")
        claims = self.signer.decode(token)
        if claims.get("sub") != self.subject(account) or claims.get("kind") != "claims":
            raise InvalidToken("claims token of another account")

    # The B2C flow

    def authorize(self, request: Request) -> Response:
        query = request.query
        if query.get("client_id") != self.client_id:
            return _b2c_error_page("client_id inconnu")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri != self.redirect_uri:
            return _b2c_error_page("redirect_uri non autorisée")
        if "token" not in query.get("response_type", "").split():
            return _b2c_error_page("response_type doit demander un token")
        transaction = _Transaction(
            csrf=secrets.token_urlsafe(24),
            redirect_uri=redirect_uri,
            state=query.get("state", ""),
            nonce=query.get("nonce", ""),
            created=self._clock(),
        )
        trans_id = "StateProperties=" + secrets.token_urlsafe(32)
        with self._lock:
            self._expire_transactions()
            self._transactions[trans_id] = transaction
        settings = {
            "csrf": transaction.csrf,
            "transId": trans_id,
            "api": "CombinedSigninAndSignup",
            "hosts": {"tenant": request.path.rsplit("/oauth2/", 1)[0]},
            "locale": {"lang": query.get("ui_locales", "fr")},
        }
        page = (
            '<!DOCTYPE html><html lang="fr"><head><title>Connexion</title>'
            f"<script>var SETTINGS = {json.dumps(settings)};</script></head>"
            '<body><form id="localAccountForm"><input id="email" name="email">'
            '<input id="password" name="password" type="password"></form>'
            "</body></html>"
        )
        response = text_response(page, "text/html; charset=utf-8")
        response.headers += [
            ("Set-Cookie", f"x-ms-cpim-csrf={transaction.csrf}; Path=/b2c/; HttpOnly"),
            ("Set-Cookie", f"x-ms-cpim-trans={trans_id[16:]}; Path=/b2c/; HttpOnly"),
        ]
        return response

    def self_asserted(self, request: Request) -> Response:
        transaction = self._transaction(request.query.get("tx", ""))
        if transaction is None:
            return json_response(
                {"status": "400", "errorCode": "AADB2C90208", "message": "tx inconnu"}
            )
        csrf = request.header("x-csrf-token")
        if csrf != transaction.csrf or request.cookies.get("x-ms-cpim-csrf") != csrf:
            return json_response(
                {"status": "403", "errorCode": "AADB2C90035", "message": "CSRF"}, 403
            )
        form = request.form()
        account = self.catalogue.account(form.get("email", ""))
        if (
            form.get("request_type") != "RESPONSE"
            or account is None
            or not secrets.compare_digest(account.password, form.get("password", ""))
        ):
            return json_response(
                {
                    "status": "400",
                    "errorCode": WRONG_PASSWORD_CODE,
                    "message": WRONG_PASSWORD_MESSAGE,
                }
            )
        with self._lock:
            transaction.email = account.email
        return json_response({"status": "200"})

    def confirmed(self, request: Request) -> Response:
        trans_id = request.query.get("tx", "")
        transaction = self._transaction(trans_id)
        if transaction is None or request.query.get("csrf_token") != transaction.csrf:
            return _b2c_error_page("transaction inconnue")
        with self._lock:
            self._transactions.pop(trans_id, None)
        account = (
            self.catalogue.account(transaction.email) if transaction.email else None
        )
        if account is None:
            fragment = urlencode(
                {
                    "error": "access_denied",
                    "error_description": "AADB2C90091: connexion non terminée",
                    "state": transaction.state,
                }
            )
        else:
            fragment = urlencode({**self.issue(account), "state": transaction.state})
        return Response(302, [("Location", f"{transaction.redirect_uri}#{fragment}")])

    def token(self, request: Request) -> Response:
        form = request.form()
        grant = form.get("grant_type")
        account: Account | None = None
        if grant == "refresh_token":
            with self._lock:
                entry = self._refresh_tokens.pop(form.get("refresh_token", ""), None)
            if entry is not None and entry[1] > self._clock():
                account = self.catalogue.account(entry[0])
        elif grant == "password":
            candidate = self.catalogue.account(form.get("username", ""))
            if candidate is not None and secrets.compare_digest(
                candidate.password, form.get("password", "")
            ):
                account = candidate
        else:
            return json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"grant_type {grant!r} non pris en charge",
                },
                400,
            )
        if account is None:
            return json_response(
                {
                    "error": "invalid_grant",
                    "error_description": f"{WRONG_PASSWORD_CODE}: "
                    + WRONG_PASSWORD_MESSAGE,
                },
                400,
            )
        return json_response(self.issue(account))

    def _transaction(self, trans_id: str) -> _Transaction | None:
        with self._lock:
            self._expire_transactions()
            return self._transactions.get(trans_id)

    def _expire_transactions(self) -> None:
        oldest = self._clock() - TRANSACTION_LIFETIME
        for key in [k for k, t in self._transactions.items() if t.created < oldest]:
            del self._transactions[key]


def _b2c_error_page(reason: str) -> Response:
    return text_response(
        f"<!DOCTYPE html><html><body><h1>Erreur</h1><p>{reason}</p></body></html>",
        "text/html; charset=utf-8",
        400,
    )
