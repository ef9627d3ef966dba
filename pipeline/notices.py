"""Notices to the people running a coalition: a round paused itself, a partner opted out.

They go straight to the mail transport, not through the ledger: they belong to no round and
person pair, and a notice that fails is logged (the state it reports is in `cos campaign
status` either way). Each reader gets the notice in their language: a lead's own, else the
coalition's; the addresses in COS_ADMIN_EMAILS get the coalition's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel import Session, col, select

from emails import DeliveryError, Rendered, backend_from_url, build_message, list_id, render_email
from emails.i18n import Lazy, choose
from emails.notices import notice_context, opt_out_notice, paused_notice
from pipeline.config import Settings
from pipeline.core.vocab import Role
from pipeline.models import Coalition, Person, utcnow

log = logging.getLogger(__name__)

# The template triple of notices: an email kind outside the ledger (EmailKind lists those in it).
NOTICE = "notice"


def notify(settings: Settings, session: Session, coalition: Coalition, title: Lazy,
           lines: Sequence[Lazy], *, admins: bool = False) -> list[str]:
    """Email a notice to the coalition's leads (or, with admins, to COS_ADMIN_EMAILS when set);
    return the addresses it reached."""
    people = ([(address, address, None) for address in settings.admin_emails]
              if admins and settings.admin_emails
              else [(p.name, p.email, p.language) for p in session.exec(select(Person).where(
                  Person.coalition_id == coalition.id, Person.role == Role.LEAD,
                  col(Person.active).is_(True)).order_by(col(Person.id)))])
    rendered: dict[str, Rendered] = {}  # one render per language
    backend = backend_from_url(settings.mail_url)
    reached = []
    stamp = utcnow().strftime("%Y%m%d%H%M%S%f")
    for n, (name, address, own) in enumerate(people):
        language = choose(own, coalition.language)
        if language not in rendered:
            rendered[language] = render_email(NOTICE, notice_context(
                coalition.name, title, lines, language))
        message = build_message(rendered[language], sender=settings.mail_from, to_name=name,
                                to_addr=address, headers={"Auto-Submitted": "auto-generated",
                                         "List-Id": list_id(coalition.name, coalition.slug,
                                                            settings.mail_domain)},
                                message_id=f"<cos.notice.{coalition.id}.{stamp}.{n}"
                                           f"@{settings.mail_domain}>")
        try:
            backend.send(message)
        except DeliveryError as exc:
            log.error("notice %r to %s was not sent: %s", str(title), address, exc)
            continue
        reached.append(address)
    if not people:
        log.warning("notice %r for %s: nobody to tell (no leads, no COS_ADMIN_EMAILS)",
                    str(title), coalition.slug)
    return reached


__all__ = ["NOTICE", "notify", "opt_out_notice", "paused_notice"]
