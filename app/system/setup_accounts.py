"""POST /setup/accounts: add a grok.com account to the pool from the /setup page (or a script).

The same guards as the settings form (same origin, the page's CSRF token, a loopback client
or an API key). The account is written to the accounts file exactly as
`grok-web-api accounts add` writes it (an existing label gets the new cookies), and applied
in this worker at once and in every other worker by its next request. Nothing sent is ever
echoed back: the answer names the label only.
"""

from __future__ import annotations

from urllib.parse import urlencode

import marshmallow as ma
from flask import redirect

from ..ops.accounts import AccountsFileError, add_account, entry_account
from ..problems import Problem
from ..runtime import runtime
from ..web.auth import public_route
from ..web.blueprint import Blueprint
from .setup import _info, _page, _StrictSchema, _wants_html, guard_update

blp = Blueprint("setup_accounts", __name__, description="Setup helper: add a grok.com account to the pool")


class AccountFormSchema(_StrictSchema):
    label = ma.fields.String(required=True, metadata={"description": "1 to 32 letters, digits, '_', '.' or '-'"})
    sso = ma.fields.String(required=True, metadata={"description": "the account's sso cookie"})
    sso_rw = ma.fields.String(metadata={"description": "its sso-rw cookie (default: the sso value)"})
    proxy = ma.fields.String(metadata={"description": "outbound proxy for this account, e.g. socks5h://host:1080"})
    csrf_token = ma.fields.String(metadata={"description": "form posts only: the token of the page"})
    api_key = ma.fields.String(metadata={"description": "form posts only: an API key, for non-loopback clients"})


class AccountAddedSchema(ma.Schema):
    label = ma.fields.String()
    added = ma.fields.Boolean(metadata={"description": "false when an account with that label got new cookies"})
    accounts = ma.fields.List(ma.fields.String(), metadata={"description": "every label of the pool now"})


@blp.route("/setup/accounts", methods=["POST"])
@public_route  # guard_update checks the credential itself, as the settings form does
@blp.arguments(AccountFormSchema, location="json_or_form", example={"label": "work", "sso": "eyJ..."})
@blp.response(200, AccountAddedSchema, example={"label": "work", "added": True, "accounts": ["default", "work"]})
@blp.doc(
    summary="Add a grok.com account to the pool (loopback or API key)",
    description="JSON body for scripts; the /setup page posts the same fields as a form with its csrf_token.",
)
def add_pool_account(body):
    from_form = guard_update(body)
    rt = runtime()
    path = rt.settings.accounts_path
    if path is None:
        raise Problem(409, "not_configured", "this server was not started with a settings file (ACCOUNTS_FILE)")
    fields = {k: (body.get(k) or "").strip() or None for k in ("label", "sso", "sso_rw", "proxy")}
    try:
        account = entry_account(fields)
        added = add_account(path, account)
    except AccountsFileError as exc:
        if from_form and _wants_html():
            return _page(_info(), 422, errors={"account": str(exc)})
        raise Problem(422, "invalid_request", str(exc), param="account") from None
    rt.poll_accounts()  # this worker at once; the others at their next request
    labels = [a.label for a in rt.pool.accounts.values()]
    if from_form and _wants_html():
        return redirect("/setup?" + urlencode({"account": account.label, "added": "1" if added else ""}), 303)
    return {"label": account.label, "added": added, "accounts": labels}
