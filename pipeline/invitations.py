"""The invitation email: what it tells one partner about this round."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from emails.i18n import choose, format_moment, gettext_for
from pipeline.config import Settings
from pipeline.core.vocab import CLOSED_STATUSES, EmailKind
from pipeline.email_kinds import batch_get, email_kind, memoised
from pipeline.models import Coalition, Commitment, Invitation, Metric, Organisation, Person, Round
from pipeline.tokens import checkin_link


@email_kind(EmailKind.INVITATION)
def invitation_context(session: Session, settings: Settings, round_: Round,
                       coalition: Coalition, person: Person) -> dict[str, Any]:
    """Gather what the invitation email says to one person."""
    invitation = memoised(session, ("invitation", round_.id, person.id), lambda: session.exec(
        select(Invitation).where(Invitation.round_id == round_.id,
                                 Invitation.person_id == person.id)).one())
    org = batch_get(session, Organisation, person.organisation_id)
    lead = batch_get(session, Organisation, coalition.lead_organisation_id)
    org_id = person.organisation_id
    commitments = memoised(session, ("commitments", org_id), lambda: session.exec(
        select(Commitment).where(
            Commitment.organisation_id == org_id, col(Commitment.active).is_(True),
            col(Commitment.status).not_in(CLOSED_STATUSES)).order_by(col(Commitment.due))).all())
    metrics = memoised(session, ("metrics", org_id), lambda: session.exec(select(Metric).where(
        Metric.owner_organisation_id == org_id, col(Metric.active).is_(True))).all())
    language = choose(person.language, coalition.language)
    _ = gettext_for(language)
    return {
        "language": language, "number_locale": coalition.locale,
        "coalition_name": coalition.name, "win": coalition.win,
        "round_label": _("Round %(number)s", number=round_.number), "person_name": person.name,
        "organisation_name": org.name if org else "",
        "link": checkin_link(settings.base_url, settings.secret_key, invitation.salt),
        "closes_at": format_moment(round_.closes_at, coalition.timezone, language),
        "commitments": [{"text": c.text, "due": c.due.isoformat() if c.due else None}
                        for c in commitments],
        "metrics": [{"name": m.name, "unit": m.unit} for m in metrics],
        "lead_organisation": lead.name if lead else None,
        "footer_reason": _("you are a partner of %(coalition)s", coalition=coalition.name),
    }
