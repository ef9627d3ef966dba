"""The reminder email: a nudge to the partners who have not answered a round yet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from emails.i18n import short_moment
from pipeline.config import Settings
from pipeline.core.vocab import EmailKind
from pipeline.email_kinds import email_kind
from pipeline.invitations import invitation_context
from pipeline.models import Coalition, Person, Round, utcnow


@email_kind(EmailKind.REMINDER)
def reminder_context(session: Session, settings: Settings, round_: Round,
                     coalition: Coalition, person: Person) -> dict[str, Any]:
    """Gather what a reminder says: the invitation's link, plus a "not this week" way out."""
    context = invitation_context(session, settings, round_, coalition, person)
    context.update({
        "not_this_week_link": f"{context['link']}/not-this-week",
        "closes_at_short": short_moment(round_.closes_at, coalition.timezone,
                                       context["language"], utcnow()),
        # The close is under a day away: say it is the last call.
        "last": round_.closes_at - utcnow() <= timedelta(hours=24),
    })
    return context
