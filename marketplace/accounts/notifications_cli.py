"""CLI commands of notifications: deliver the e-mail outbox through the configured sender."""

from __future__ import annotations

import click

from marketplace.cli import AppContext, cli, emit, fail, pass_app
from marketplace.errors import msg


@cli.group("notifications")
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
