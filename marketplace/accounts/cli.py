"""Accounts the platform admin manages from the server: ``python -m marketplace users ...``, and
the e-mail outbox: ``notifications deliver``.

Organizer accounts are never self-granted: the admin creates them here (or on /admin/), or an
organizer of the same organization sends an invitation link. Firm-membership requests are
approved here, on /admin/ or by the firm's own admin user on /account/members, where a firm's
members are also removed or made firm admin (here: ``users remove``, ``users firm-admin``).
"""

from __future__ import annotations

import click
from sqlalchemy import select

from marketplace.accounts.permissions import Viewer
from marketplace.cli_common import AppContext, emit, fail, json_option, pass_app
from marketplace.errors import msg
from marketplace.models import Organization, OrganizationKind, Role, User


@click.group("users")
def users_group() -> None:
    """用户与角色 / users and roles: organizers, admins, firm-membership requests."""


ADMIN = Viewer(user_id=None, role=Role.ADMIN)  # the server's operator acts as the platform admin


@users_group.command("create-organizer")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--organization", "organization_name", required=True, help="organization name (created if new)")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in OrganizationKind]),
    default=OrganizationKind.ASSOCIATION.value,
    show_default=True,
)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="at least 8 characters")
@json_option
@pass_app
def create_organizer(
    app: AppContext, email: str, name: str, organization_name: str, kind: str, password: str, as_json: bool
) -> None:
    """Create an organizer account in an organization."""
    from marketplace.accounts.users import create_user

    with app.session() as session:
        user = create_user(
            session,
            email=email,
            password=password,
            name=name,
            role=Role.ORGANIZER,
            organization_name=organization_name,
            organization_kind=OrganizationKind(kind),
        )
        data = {"user_id": user.id, "email": user.email, "organization": user.organization.name}
    emit(data, as_json, lambda d: click.echo(f"组织方已创建 / organizer created: {d['email']} ({d['organization']})"))


@users_group.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="at least 8 characters")
@json_option
@pass_app
def create_admin(app: AppContext, email: str, name: str, password: str, as_json: bool) -> None:
    """Create a platform admin account."""
    from marketplace.accounts.users import create_user

    with app.session() as session:
        user = create_user(session, email=email, password=password, name=name, role=Role.ADMIN)
        data = {"user_id": user.id, "email": user.email}
    emit(data, as_json, lambda d: click.echo(f"管理员已创建 / admin created: {d['email']}"))


@users_group.command("invite-organizer")
@click.argument("organization")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
@json_option
@pass_app
def invite_organizer(app: AppContext, organization: str, base_url: str, as_json: bool) -> None:
    """Print a single-use invitation link (7 days) to join ORGANIZATION (name or id) as organizer."""
    from marketplace.accounts.users import create_organizer_invitation
    from marketplace.errors import NotFoundError

    with app.session() as session:
        by_id = organization.isascii() and organization.isdigit() and int(organization) < 2**63
        query = select(Organization.id).where(
            Organization.id == int(organization) if by_id else Organization.name == organization
        )
        org_id = session.scalar(query)
        if org_id is None:
            raise NotFoundError(f"organization: no organization {organization!r}", field="organization")
        token, invitation = create_organizer_invitation(session, ADMIN, org_id)
        data = {
            "organization": invitation.organization.name,
            "link": f"{base_url.rstrip('/')}/auth/join/{token}",
            "expires_at": invitation.expires_at.isoformat(timespec="seconds"),
        }
    emit(data, as_json, lambda d: click.echo(f"邀请链接 / invitation link: {d['link']} (until {d['expires_at']})"))


@users_group.command("pending")
@json_option
@pass_app
def pending(app: AppContext, as_json: bool) -> None:
    """List requests to join a firm that wait for approval."""
    from marketplace.accounts.users import pending_members

    with app.session() as session:
        rows = [
            {"user_id": u.id, "email": u.email, "name": u.name, "firm_id": u.firm_id, "firm": u.firm.name}
            for u in pending_members(session, ADMIN)
        ]

    def human(items: list[dict]) -> None:
        for r in items:
            click.echo(f"{r['user_id']:>6}  {r['email']:<30} {r['firm']}")
        if not items:
            click.echo("没有待审批的申请 / no pending requests")

    emit(rows, as_json, human)


@users_group.command("decide")
@click.argument("user_id", type=int)
@click.argument("decision", type=click.Choice(["approve", "reject"]))
@json_option
@pass_app
def decide(app: AppContext, user_id: int, decision: str, as_json: bool) -> None:
    """Approve or reject USER_ID's request to join its firm."""
    from marketplace.accounts.users import decide_membership

    with app.session() as session:
        user = decide_membership(session, ADMIN, user_id, decision == "approve")
        data = {"user_id": user.id, "membership": user.membership.value, "is_firm_admin": user.is_firm_admin}
    emit(data, as_json, lambda d: click.echo(f"{d['user_id']}: {d['membership']}"))


@users_group.command("remove")
@click.argument("user_id", type=int)
@json_option
@pass_app
def remove(app: AppContext, user_id: int, as_json: bool) -> None:
    """End USER_ID's membership of its firm: the account stays, acts for no firm, and its sessions
    and API tokens end (refused for a firm's last admin and for an open contract's approver or signer)."""
    from marketplace.accounts.users import remove_member

    with app.session() as session:
        user = remove_member(session, ADMIN, user_id)
        data = {"user_id": user.id, "membership": user.membership.value, "is_firm_admin": user.is_firm_admin}
    emit(data, as_json, lambda d: click.echo(f"{d['user_id']}: 已移出企业 / removed from the firm"))


@users_group.command("firm-admin")
@click.argument("user_id", type=int)
@click.argument("action", type=click.Choice(["grant", "revoke"]))
@json_option
@pass_app
def firm_admin(app: AppContext, user_id: int, action: str, as_json: bool) -> None:
    """Make USER_ID its firm's admin (grant) or end that role (revoke; a firm keeps at least one)."""
    from marketplace.accounts.users import set_firm_admin

    with app.session() as session:
        user = set_firm_admin(session, ADMIN, user_id, action == "grant")
        data = {"user_id": user.id, "is_firm_admin": user.is_firm_admin}
    emit(data, as_json, lambda d: click.echo(f"{d['user_id']}: firm admin = {d['is_firm_admin']}"))


@users_group.command("list")
@click.option("--role", type=click.Choice([r.value for r in Role]))
@json_option
@pass_app
def list_users(app: AppContext, role: str | None, as_json: bool) -> None:
    """Users with their role, firm or organization and membership."""
    with app.session() as session:
        query = select(User).order_by(User.id)
        if role:
            query = query.where(User.role == Role(role))
        rows = [
            {
                "user_id": u.id,
                "email": u.email,
                "role": u.role.value,
                "belongs_to": u.firm.name if u.firm else (u.organization.name if u.organization else None),
                "membership": u.membership.value if u.role in (Role.LARGE, Role.SME) else None,
                "is_firm_admin": u.is_firm_admin,
            }
            for u in session.scalars(query)
        ]
    emit(
        rows,
        as_json,
        lambda items: [
            click.echo(f"{r['user_id']:>6} {r['role']:<10} {r['email']:<30} {r['belongs_to'] or '—'}") for r in items
        ],
    )


# --- notifications ---------------------------------------------------------------------------


@click.group("notifications")
def notifications_group() -> None:
    """通知与邮件 / notifications and the e-mail outbox."""


@notifications_group.command("deliver")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(1, 100_000), help="Most mails to send.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def deliver_command(app: AppContext, limit: int, as_json: bool) -> None:
    """Send queued e-mail (SMTP when MARKETPLACE_SMTP_HOST is set; otherwise it stays in the outbox).

    Each message is sent and recorded on its own: one that fails keeps its error and is tried again on
    the next run, the others go out. Links in the mail start with MARKETPLACE_PUBLIC_BASE_URL
    (http://127.0.0.1:5000 when it is unset).
    Exit code 0 when every message tried went out, 1 when any failed.
    """
    from marketplace.accounts.notifications import deliver_outbox, sender_from_settings

    with app.session() as session:
        result = deliver_outbox(
            session, sender_from_settings(app.settings), limit=limit, base_url=app.settings.site_url()
        )
    emit(
        result,
        as_json,
        lambda r: click.echo(f"已发送 / sent {r['sent']}, 失败 / failed {r['failed']}, 待发 / pending {r['pending']}"),
    )
    if result["failed"]:
        fail(
            msg(
                "%(failed)s message(s) could not be sent; each keeps its error in the outbox (last_error) "
                "and is tried again on the next run",
                failed=result["failed"],
            ),
            1,
        )
