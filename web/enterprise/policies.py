"""Policy pages: the published policies with free-text search, the signed-in firm's matches with
each rule explained, and the organizers' editor (rules as JSON, refused with the field named)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.enterprise.policies import (
    can_manage_policy,
    can_view_policy,
    create_policy,
    evaluate,
    in_force,
    list_policies,
    match_firm,
    policy_dict,
    publish_policy,
    search_policies,
    update_policy,
    withdraw_policy,
)
from marketplace.enterprise.policy_rules import RULES, load_facts
from marketplace.errors import InputError, msg
from marketplace.models import Policy, PolicyStatus
from web.db import commit, get_db
from web.matching_engine import get_encoder
from web.messages import localized

bp = Blueprint("policies", __name__, url_prefix="/policies")
FORM_FIELDS = (
    "title",
    "issuer",
    "document_number",
    "region",
    "valid_from",
    "valid_to",
    "benefit",
    "original_text",
    "source_url",
)


def visible_policy(policy_id: int) -> Policy:
    db = get_db()
    policy = db.get(Policy, policy_id)
    if policy is None:
        abort(404)
    if not can_view_policy(current_user, policy):
        abort(404)  # a draft is not shown to those who may not manage it
    return policy


def managed_policy(policy_id: int) -> Policy:
    policy = visible_policy(policy_id)
    if not can_manage_policy(current_user, policy):
        abort(403)
    return policy


@bp.get("/")
def browse():  # noqa: ANN201
    db = get_db()
    q = (request.args.get("q") or "").strip()
    if q:
        rows = search_policies(db, q, encoder=get_encoder())
    else:
        user = current_user if current_user.is_authenticated and can_manage_policy(current_user) else None
        rows = [policy_dict(p) for p in list_policies(db, user=user, include_drafts=user is not None)]
    return render_template("policies/browse.html", policies=rows, q=q, can_publish=can_manage_policy(current_user))


@bp.get("/mine")
@login_required
def mine():  # noqa: ANN201
    """The policies the signed-in firm qualifies for, then those it nearly qualifies for."""
    if current_user.firm_id is None:
        abort(403)
    rows = match_firm(get_db(), current_user.firm_id)
    return render_template("policies/mine.html", matches=rows)


@bp.get("/<int:policy_id>")
def detail(policy_id: int):  # noqa: ANN201
    policy = visible_policy(policy_id)
    own = None
    if current_user.is_authenticated and current_user.firm_id:
        facts = load_facts(get_db(), [current_user.firm_id])
        own = evaluate(policy, facts[0]) if facts else None
    return render_template(
        "policies/detail.html",
        policy=policy,
        data=policy_dict(policy),
        own=own,
        in_force=in_force(policy),
        can_manage=can_manage_policy(current_user, policy),
    )


MAX_RULES_TEXT = 20_000  # characters of rules JSON: a policy has a handful of rules


def _no_constant(word: str) -> float:
    """json.loads takes NaN and ±Infinity, which no rule bound is."""
    raise InputError(msg("rules: %(value)s is not a number; give finite numbers", value=word), field="rules")


def _form_data() -> dict[str, Any]:
    data: dict[str, Any] = {k: request.form.get(k, "") for k in FORM_FIELDS}
    raw_rules = (request.form.get("rules") or "").strip() or "[]"
    if len(raw_rules) > MAX_RULES_TEXT:
        raise InputError(
            msg("rules: %(n)s characters; at most %(max)s", n=len(raw_rules), max=MAX_RULES_TEXT), field="rules"
        )
    try:
        data["rules"] = json.loads(raw_rules, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            msg("rules: not valid JSON (%(reason)s at column %(column)s)", reason=exc.msg, column=exc.colno),
            field="rules",
        ) from None
    except RecursionError:  # brackets nested deeper than any rule
        raise InputError(msg("rules: nested too deeply; give a list of rule objects"), field="rules") from None
    return data


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # noqa: ANN201
    if not can_manage_policy(current_user):
        abort(403)
    error = None
    if request.method == "POST":
        db = get_db()

        def action() -> Policy:
            return create_policy(
                db,
                _form_data(),
                organization_id=current_user.organization_id,
                publish=bool(request.form.get("publish")),
            )

        policy, error = commit(action)
        if error is None:
            flash(_("政策已保存"), "success")
            return redirect(url_for("policies.detail", policy_id=policy.id))
    return _editor(None, error)


@bp.route("/<int:policy_id>/edit", methods=["GET", "POST"])
@login_required
def edit(policy_id: int):  # noqa: ANN201
    policy = managed_policy(policy_id)
    error = None
    if request.method == "POST":
        result, error = commit(lambda: update_policy(get_db(), policy, _form_data()))
        if error is None:
            flash(_("政策已更新；新适用的企业 %(n)s 家已收到通知", n=result.get("notified_firms", 0)), "success")
            return redirect(url_for("policies.detail", policy_id=policy.id))
    return _editor(policy, error)


def _editor(policy: Policy | None, error: InputError | None):  # noqa: ANN202
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in (*FORM_FIELDS, "rules")}
    elif policy is not None:
        data = policy_dict(policy)
        values = {k: data.get(k) or "" for k in FORM_FIELDS}
        values["rules"] = json.dumps(policy.rules, ensure_ascii=False, indent=1)
    else:
        values = {k: "" for k in FORM_FIELDS} | {"rules": "[]"}
    return (
        render_template("policies/form.html", policy=policy, values=values, error=error, rule_fields=list(RULES)),
        400 if error else 200,
    )


@bp.post("/<int:policy_id>/<any(publish, withdraw):action>")
@login_required
def change_status(policy_id: int, action: str):  # noqa: ANN201
    policy = managed_policy(policy_id)
    db = get_db()
    if action == "publish":
        if policy.status is PolicyStatus.PUBLISHED:
            abort(409, description=_("政策已发布"))
        result, error = commit(lambda: publish_policy(db, policy))
        if error:
            abort(409, description=localized(error))
        flash(_("已发布；适用企业 %(n)s 家已收到通知", n=result["notified_firms"]), "success")
    else:
        commit(lambda: withdraw_policy(db, policy))
        flash(_("已撤回"), "success")
    return redirect(url_for("policies.detail", policy_id=policy.id))
