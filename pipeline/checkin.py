"""A partner's check-in: what a personal link may see, and recording what they answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, bindparam, exists, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from emails.format import N_
from emails.i18n import choose, format_moment, gettext_for
from pipeline.core.vocab import CLOSED_STATUSES, REPORTED_STATUSES, Role
from pipeline.models import (
    Coalition,
    Commitment,
    CommitmentUpdate,
    HelpEdge,
    Invitation,
    Metric,
    Organisation,
    Person,
    PhaseSnapshot,
    Reading,
    Response,
    Round,
    utcnow,
)
from pipeline.tokens import hash_token, looks_like_token

STATUS_LABELS = {s.value: s.label for s in REPORTED_STATUSES}
PULSE_LABELS = {1: N_("Never"), 2: N_("Rarely"), 3: N_("Sometimes"), 4: N_("Mostly"),
                5: N_("Always")}

# "Who helped your organisation?" lists every other organisation at the table as a checkbox
# when there are at most HELPER_CHECKBOXES of them. Beyond, the page lists this round's saved
# helpers and up to HELPER_SUGGESTIONS that helped before, and the partner types other names:
# the page is the same size at 60 organisations as at 10,000.
HELPER_CHECKBOXES = 30
HELPER_SUGGESTIONS = 8


class LinkProblem(Exception):
    """A link that cannot be used; the same words whether or not such a token ever existed."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def not_found() -> LinkProblem:
    """Say a link does not work, without telling whether its token ever existed."""
    return LinkProblem(
        404, N_("This link does not work"),
        N_("The address may be mistyped or cut short by your email program. Open the link "
           "from your latest check-in email again, or ask your coalition's convener for a new "
           "one."))


def closed() -> LinkProblem:
    """Say a link's round is over (or the link was withdrawn)."""
    return LinkProblem(
        410, N_("This check-in has closed"),
        N_("This round is over, so the link no longer accepts answers. You will get a new "
           "link with the next round. If you need to add something, write to your "
           "coalition's convener."))


@dataclass(frozen=True)
class CommitmentItem:
    """An open commitment the person's organisation owns."""

    id: int
    text: str
    due: date | None
    status: str


@dataclass(frozen=True)
class MetricItem:
    """A metric the person's organisation reports."""

    id: int
    key: str
    name: str
    unit: str
    baseline: float
    target: float
    last_value: float | None


@dataclass
class Checkin:
    """Everything the check-in page shows to one person for one round."""

    invitation_id: int
    round_id: int
    person_id: int
    person_name: str
    organisation_id: int
    organisation_name: str
    coalition_name: str
    win: str
    round_label: str
    closes_at: str
    locale: str = "en"  # the coalition's: how readings are read and shown
    language: str = "en"  # the person's, else the coalition's: the words on the page
    commitments: list[CommitmentItem] = field(default_factory=list)
    metrics: list[MetricItem] = field(default_factory=list)
    # Every other organisation at the table, or (many_organisations) the likely helpers only.
    other_organisations: list[tuple[int, str]] = field(default_factory=list)
    many_organisations: bool = False
    coalition_id: int = 0
    latest: dict[str, Any] | None = None
    revision: int = 0
    submitted_at: datetime | None = None
    # The round's kind (checkin, readiness, win-echo) and, for a check-in, the playbook's
    # phase items it carries this round (pipeline.core.questions) and whether it asks the win
    # from memory.
    kind: str = "checkin"
    items: tuple[str, ...] = ()
    ask_echo: bool = False


# The statements open_checkin runs, built once: a check-in page is the app's busiest request,
# and building and keying a statement costs about as much as running it on SQLite. Four
# statements in all (five in a coalition too large to list; one for a round that is not a
# weekly check-in), each giving plain rows; and those matching the helpers' names a POST typed.
_EARLIER = aliased(Round)
_REVISIONS = aliased(Response)
# The organisations a partner may name as helpers: the coalition's active ones other than their
# own, with an active partner or lead (a funder that only observes is not asked about).
_SEATED = (
    col(Organisation.active).is_(True), Organisation.id != bindparam("organisation"),
    exists().where(col(Person.organisation_id) == Organisation.id, col(Person.active).is_(True),
                   col(Person.role).in_((Role.PARTNER, Role.LEAD))))
_AT_THE_TABLE = (Organisation.coalition_id == bindparam("coalition"), *_SEATED)
# The organisations that helped this one most in earlier rounds, read from the helpedge index
# by the helped organisation. No coalition test: its helpers are of its coalition (the form
# offers no other), and the test would lead SQLite to read every organisation of the coalition.
_PAST_HELPERS = (
    select(Organisation.id, Organisation.name, sa.literal(False).label("saved"))
    .join(HelpEdge, col(HelpEdge.helper_organisation_id) == col(Organisation.id))
    .where(HelpEdge.helped_organisation_id == bindparam("organisation"), *_SEATED)
    .group_by(col(Organisation.id), col(Organisation.name))
    .order_by(func.count().desc(), col(Organisation.name))
    .limit(HELPER_SUGGESTIONS).subquery("past_helpers"))
_STATEMENTS: dict[str, Any] = {
    # The invitation with its round, person, coalition and organisation, in one row; with the
    # latest revision of the answers (if any) and the phase snapshot of the round before (the
    # rotation of the questions starts from its focus; pipeline.cos_model.round_questions).
    "invitation": sa.select(
        col(Invitation.id).label("invitation_id"), col(Invitation.revoked_at),
        col(Round.id).label("round_id"), col(Round.number), col(Round.kind),
        col(Round.closes_at), col(Round.closed_at),
        col(Person.id).label("person_id"), col(Person.name).label("person_name"),
        col(Person.active).label("person_active"),
        col(Person.language).label("person_language"),
        col(Organisation.id).label("organisation_id"),
        col(Organisation.name).label("organisation_name"),
        col(Coalition.id).label("coalition_id"), col(Coalition.name).label("coalition_name"),
        col(Coalition.win), col(Coalition.timezone), col(Coalition.locale),
        col(Coalition.language).label("coalition_language"), col(Coalition.stage),
        col(Coalition.model),
        col(Response.answers), col(Response.revision), col(Response.submitted_at),
        select(PhaseSnapshot.data)
        .join(_EARLIER, col(_EARLIER.id) == col(PhaseSnapshot.round_id))
        .where(_EARLIER.coalition_id == Round.coalition_id, _EARLIER.number < Round.number)
        .order_by(col(_EARLIER.number).desc()).limit(1)
        .correlate(Round).scalar_subquery().label("previous"))
    .join(Round, col(Round.id) == col(Invitation.round_id))
    .join(Person, col(Person.id) == col(Invitation.person_id))
    .join(Coalition, col(Coalition.id) == col(Round.coalition_id))
    .join(Organisation, col(Organisation.id) == col(Person.organisation_id))
    .outerjoin(Response, and_(
        col(Response.invitation_id) == col(Invitation.id),
        col(Response.revision) == select(func.max(_REVISIONS.revision))
        .where(_REVISIONS.invitation_id == Invitation.id).correlate(Invitation)
        .scalar_subquery()))
    .where(col(Invitation.token_hash) == bindparam("token_hash")),
    # The organisation's active commitments, each with whether this round reported on it.
    "commitments": sa.select(col(Commitment.id), col(Commitment.text), col(Commitment.due),
                             col(Commitment.status), col(Commitment.created_round_id),
                             exists().where(col(CommitmentUpdate.commitment_id) == Commitment.id,
                                            col(CommitmentUpdate.round_id) == bindparam("round")))
    .where(col(Commitment.organisation_id) == bindparam("organisation"),
           col(Commitment.active).is_(True))
    .order_by(col(Commitment.due), col(Commitment.id)),
    # The metrics it reports, each with its reading of the latest earlier round that has one.
    "metrics": sa.select(col(Metric.id), col(Metric.key), col(Metric.name), col(Metric.unit),
                         col(Metric.baseline), col(Metric.target),
                         select(Reading.value).join(Round, col(Round.id) == col(Reading.round_id))
                         .where(Reading.metric_id == Metric.id,
                                Round.coalition_id == bindparam("coalition"),
                                Round.number < bindparam("number"))
                         .order_by(col(Round.number).desc()).limit(1)
                         .correlate(Metric).scalar_subquery())
    .where(col(Metric.owner_organisation_id) == bindparam("organisation"),
           col(Metric.active).is_(True))
    .order_by(col(Metric.id)),
    # Organisations at the table (below), the first HELPER_CHECKBOXES + 1 by name: one more than
    # the page lists says the coalition is too large to list.
    "others": select(Organisation.id, Organisation.name)
    .where(*_AT_THE_TABLE).order_by(col(Organisation.name)).limit(HELPER_CHECKBOXES + 1),
    # In a large coalition, the likely helpers: every one saved in this round's answer, and
    # the HELPER_SUGGESTIONS that helped the organisation most in earlier rounds.
    "likely_helpers": sa.union_all(
        select(Organisation.id, Organisation.name, sa.literal(True).label("saved"))
        .where(col(Organisation.id).in_(bindparam("chosen", expanding=True)), *_AT_THE_TABLE),
        sa.select(_PAST_HELPERS)),
    # The organisations named by typed names (lowercased), each whatever its case: one lookup
    # for all the names of a POST in the index by lowercased name.
    "named_exactly": select(Organisation.id, Organisation.name)
    .where(*_AT_THE_TABLE,
           func.lower(Organisation.name).in_(bindparam("names", expanding=True))),
    # The organisations a name may mean when it names none exactly: the one so named (case
    # aside, as the database lowercases) first, else the first two whose name starts with it
    # (two say it is ambiguous). It reads the coalition's names, so only such names ask it.
    "named": select(Organisation.id, Organisation.name)
    .where(*_AT_THE_TABLE, func.lower(Organisation.name).like(
        func.lower(bindparam("prefix")), escape="/"))
    .order_by((func.lower(Organisation.name) == func.lower(bindparam("name"))).desc(),
              col(Organisation.name))
    .limit(2),
}


def open_checkin(session: Session, token: str, *, now: datetime | None = None) -> Checkin:
    """Return the check-in a token opens, or raise LinkProblem; changes nothing."""
    if not looks_like_token(token):
        raise not_found()
    # Plain rows, so straight through the session's connection (half the ORM's cost).
    connection = session.connection()
    row = connection.execute(_STATEMENTS["invitation"],
                             {"token_hash": hash_token(token)}).first()
    if row is None:
        raise not_found()
    now = now or utcnow()
    if (row.revoked_at is not None or not row.person_active or row.closed_at is not None
            or now >= row.closes_at):
        raise closed()
    from pipeline.cos_model import RoundKind, questions_after

    commitments: list[CommitmentItem] = []
    metrics: list[MetricItem] = []
    others: list[tuple[int, str]] = []
    many = False
    if row.kind == RoundKind.CHECKIN:
        organisation = {"organisation": row.organisation_id}
        commitments = [
            CommitmentItem(c_id, text, due, status)
            for c_id, text, due, status, created_round_id, reported in connection.execute(
                _STATEMENTS["commitments"], {"round": row.round_id, **organisation})
            # Still open, or closed in this very round (so an edit can take "done" back).
            if (status not in CLOSED_STATUSES or reported) and created_round_id != row.round_id
        ]
        metrics = [MetricItem(*metric) for metric in connection.execute(
            _STATEMENTS["metrics"], {"coalition": row.coalition_id, "number": row.number,
                                     **organisation})]
        table = {"coalition": row.coalition_id, **organisation}
        others = [(o_id, name) for o_id, name in connection.execute(_STATEMENTS["others"], table)]
        many = len(others) > HELPER_CHECKBOXES
        if many:
            others = likely_helpers(connection, table, (row.answers or {}).get("helped_by"))
    items, ask_echo = questions_after(row.kind, row.number, row.stage, row.model, row.previous)
    language = choose(row.person_language, row.coalition_language)
    return Checkin(
        invitation_id=row.invitation_id, round_id=row.round_id, person_id=row.person_id,
        person_name=row.person_name, organisation_id=row.organisation_id,
        organisation_name=row.organisation_name, coalition_name=row.coalition_name,
        win=row.win, round_label=gettext_for(language)("Round %(number)s", number=row.number),
        closes_at=format_moment(row.closes_at, row.timezone, language),
        locale=row.locale, language=language,
        commitments=commitments, metrics=metrics, other_organisations=others,
        many_organisations=many, coalition_id=row.coalition_id,
        latest=row.answers, revision=row.revision or 0, submitted_at=row.submitted_at,
        kind=row.kind, items=items, ask_echo=ask_echo,
    )


def likely_helpers(connection: sa.Connection, table: dict[str, int],
                   chosen: Any) -> list[tuple[int, str]]:
    """Return the helpers a large coalition's page offers, by name: every organisation saved in
    this round's answer (so an edit loses none), then up to HELPER_SUGGESTIONS of those that
    helped most before."""
    saved = sorted({int(c) for c in chosen or [] if str(c).isdigit()})
    likely: dict[int, str] = {}
    before: list[tuple[int, str]] = []
    for o_id, name, was_saved in connection.execute(_STATEMENTS["likely_helpers"],
                                                    {**table, "chosen": saved}):
        if was_saved:
            likely[o_id] = name
        else:
            before.append((o_id, name))
    for o_id, name in before:
        if len(likely) >= max(HELPER_SUGGESTIONS, len(saved)):
            break
        likely.setdefault(o_id, name)
    return sorted(likely.items(), key=lambda org: org[1].casefold())


def organisations_named(session: Session, checkin: Checkin,
                        names: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Return what each name a partner typed means: [the organisation], [] for none, or two
    when it could be several (it is ambiguous). A name matches a whole name (case aside), else
    the start of one organisation's name."""
    connection = session.connection()
    table = {"coalition": checkin.coalition_id, "organisation": checkin.organisation_id}
    found: dict[str, list[tuple[int, str]]] = {name: [] for name in names}
    for o_id, o_name in connection.execute(_STATEMENTS["named_exactly"], {
            **table, "names": sorted({name.lower() for name in names})}):
        for name in names:
            if name.casefold() == o_name.casefold():
                found[name].append((o_id, o_name))
    for name in names:
        if found[name]:
            continue
        escaped = name.replace("/", "//").replace("%", "/%").replace("_", "/_")  # LIKE escape
        rows = connection.execute(_STATEMENTS["named"], {
            **table, "prefix": escaped + "%", "name": name}).all()
        exact = rows and rows[0].name.casefold() == name.casefold()
        found[name] = [(o_id, o_name) for o_id, o_name in rows[:1 if exact else 2]]
    return found


_STILL_OPEN = (
    sa.select(col(Invitation.revoked_at), col(Person.active), col(Round.closed_at),
              col(Round.closes_at))
    .join(Round, col(Round.id) == col(Invitation.round_id))
    .join(Person, col(Person.id) == col(Invitation.person_id))
    .where(col(Invitation.id) == bindparam("invitation")))


def ensure_still_open(session: Session, checkin: Checkin, *, now: datetime | None = None) -> None:
    """Raise LinkProblem if the check-in read earlier (outside this transaction) is no longer
    open: its round closed, the link was withdrawn or the person left meanwhile. One indexed
    row, so a POST's writing transaction stays short."""
    row = session.connection().execute(_STILL_OPEN, {"invitation": checkin.invitation_id}).first()
    if row is None:
        raise not_found()
    if (row.revoked_at is not None or not row.active or row.closed_at is not None
            or (now or utcnow()) >= row.closes_at):
        raise closed()


# A revision is written with one INSERT ... RETURNING (no unit-of-work flush).
_INSERT_RESPONSE = sa.insert(Response).returning(col(Response.id))


def record_answers(session: Session, checkin: Checkin, answers: dict[str, Any]) -> Response:
    """Store a new revision of the person's answers; the caller commits, then queues the merge.

    The revision is the one after what the check-in showed (read in the same transaction by
    the form's POST); if someone saved meanwhile, the next free one is looked up. Returns the
    stored row (detached from the session: it is only read afterwards).
    """
    revision = checkin.revision + 1
    for _attempt in range(3):
        values: dict[str, Any] = {
            "invitation_id": checkin.invitation_id, "round_id": checkin.round_id,
            "person_id": checkin.person_id, "revision": revision, "answers": answers,
            "submitted_at": utcnow(), "merged_at": None}
        connection = session.connection()  # plain SQL: no ORM object to flush
        try:
            with connection.begin_nested():
                new_id = connection.execute(_INSERT_RESPONSE, values).scalar_one()
            return Response(id=new_id, **values)
        except IntegrityError:
            # the same person submitted twice at once (or the check-in was read earlier): take
            # the next revision
            revision = (session.exec(select(func.max(Response.revision))
                                     .where(Response.invitation_id == checkin.invitation_id))
                        .one() or 0) + 1
    raise RuntimeError("could not store the answers after three attempts")
