"""The coalition's data: who is at the table, what they promised, and what each round recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from pipeline.core.vocab import CommitmentStatus, DeliveryStatus, Direction, Role, Stage


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Coalition(SQLModel, table=True):
    """A table of partner organisations working toward one win."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=200)
    win: str = Field(max_length=1000)
    timezone: str = Field(default="UTC", max_length=64)
    # How partners write numbers (a Babel locale: en, de, fr_CH): 3,500 is 3500 in en, 3,5 is
    # three and a half in de. Check-in readings are read and shown by it.
    locale: str = Field(default="en", max_length=35, sa_column_kwargs={"server_default": "en"})
    # The language partners read (emails.i18n.LANGUAGES): the digest, and every partner's form
    # and emails unless the person chose their own.
    language: str = Field(default="en", max_length=16, sa_column_kwargs={"server_default": "en"})
    stage: str = Field(default=Stage.LAUNCH, max_length=16)
    # No foreign key: organisation rows point back at the coalition, and a cycle would make
    # PostgreSQL migrations need deferred constraints for no benefit.
    lead_organisation_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # The [cadence] settings as pipeline.core.cadence.Cadence.to_mapping writes them; None
    # while rounds are only started by hand.
    cadence: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # When the cadence was last switched on or changed: the scheduler's first tick looks back
    # to here and no further, so turning a cadence on never replays past weeks.
    cadence_since: datetime | None = None
    # Up to when every scheduler tick is done (a hint: the claims make repeats harmless).
    scheduled_through: datetime | None = None
    # A round pauses itself after this many delivery failures in a row, and tells the admins.
    pause_after_failures: int = Field(default=5, sa_column_kwargs={"server_default": "5"})
    # The coalition file's [model] table: threshold overrides, the check-in's phase-item
    # rotation, the main funding's end date, whether a sustainability plan is logged.
    model: dict[str, Any] = Field(default_factory=dict, sa_column=Column(
        JSON, nullable=False, server_default="{}"))
    # The funder page's link is derived from it; a new salt revokes the old link ("" = none).
    funder_salt: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})


class Organisation(SQLModel, table=True):
    """A member organisation of a coalition."""

    __table_args__ = (
        UniqueConstraint("coalition_id", "name"),
        # A name a partner typed, found whatever its case (pipeline.checkin, the helpers).
        Index("ix_organisation_coalition_lower_name", "coalition_id", text("lower(name)")),
    )
    id: int | None = Field(default=None, primary_key=True)
    coalition_id: int = Field(foreign_key="coalition.id", index=True)
    name: str = Field(max_length=200)
    active: bool = True


class Person(SQLModel, table=True):
    """Someone at a member organisation: a partner who answers, a lead who reads, or an observer."""

    __table_args__ = (UniqueConstraint("coalition_id", "email"),)
    id: int | None = Field(default=None, primary_key=True)
    coalition_id: int = Field(foreign_key="coalition.id", index=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    role: str = Field(default=Role.PARTNER, max_length=16)
    active: bool = True
    # They asked for no more recurring email (check-ins for partners, the digest for leads).
    opted_out_at: datetime | None = None
    # Their address was refused for good (a 5xx to RCPT): nothing is sent to it again until an
    # admin runs `cos people restore EMAIL`. The reason is the server's answer.
    suppressed_at: datetime | None = None
    suppressed_reason: str = Field(default="", max_length=500,
                                   sa_column_kwargs={"server_default": ""})
    # "file" once a coalition file lists them (a load with --prune may deactivate them when it
    # stops listing them); "csv" when `cos people import` added or brought them back (a load
    # never deactivates them). Rows from before 0003 read "csv": see that migration.
    source: str = Field(default="csv", max_length=8, sa_column_kwargs={"server_default": "csv"})
    # The language this person reads their form and emails in; "" follows the coalition's.
    language: str = Field(default="", max_length=16, sa_column_kwargs={"server_default": ""})


class Metric(SQLModel, table=True):
    """A headline measure on the scoreboard, reported by its owner organisation."""

    __table_args__ = (UniqueConstraint("coalition_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    coalition_id: int = Field(foreign_key="coalition.id", index=True)
    key: str = Field(max_length=64)
    name: str = Field(max_length=200)
    unit: str = Field(default="", max_length=32)
    baseline: float
    target: float
    direction: str = Field(default=Direction.UP, max_length=4)
    owner_organisation_id: int = Field(foreign_key="organisation.id", index=True)
    active: bool = True


class Commitment(SQLModel, table=True):
    """Something one organisation promised the table, with its latest reported status."""

    __table_args__ = (UniqueConstraint("coalition_id", "source_key"),)
    id: int | None = Field(default=None, primary_key=True)
    coalition_id: int = Field(foreign_key="coalition.id", index=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    text: str = Field(max_length=1000)
    due: date | None = None
    status: str = Field(default=CommitmentStatus.OPEN, max_length=16)
    # False once the coalition file no longer lists it: no longer asked about, history kept.
    active: bool = True
    # "file:<key>" for commitments from the coalition file, "checkin:<round>:<person>" for new
    # ones made in a check-in: the merge upserts on it, so re-running it makes no duplicates.
    source_key: str = Field(max_length=120)
    created_round_id: int | None = Field(default=None, foreign_key="round.id")
    created_at: datetime = Field(default_factory=utcnow)


class Round(SQLModel, table=True):
    """One round of check-ins for a coalition."""

    __table_args__ = (UniqueConstraint("coalition_id", "number"),
                      Index("uq_round_coalition_period", "coalition_id", "period_key",
                            unique=True))
    id: int | None = Field(default=None, primary_key=True)
    coalition_id: int = Field(foreign_key="coalition.id", index=True)
    number: int
    opened_at: datetime = Field(default_factory=utcnow)
    closes_at: datetime
    closed_at: datetime | None = None
    # The cadence period the scheduler opened it for ("2026-W48"); None for rounds started by
    # hand. Unique per coalition, so one period never gets two rounds.
    period_key: str | None = Field(default=None, max_length=16)
    # While paused nothing of the round is sent; resuming sends what waited.
    paused_at: datetime | None = None
    pause_reason: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})
    cancelled_at: datetime | None = None
    # Deliveries that failed in a row (reset by each one that goes out): the pause threshold.
    failures_in_a_row: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # checkin (the weekly form), readiness (the eight-item check) or win-echo (a RoundKind).
    kind: str = Field(default="checkin", max_length=16,
                      sa_column_kwargs={"server_default": "checkin"})


class Invitation(SQLModel, table=True):
    """A person's personal link for one round; only a hash of its token is stored."""

    __table_args__ = (UniqueConstraint("round_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    salt: str = Field(max_length=64)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    # The person said "not this week": no reminders, and not counted as silent.
    not_this_week_at: datetime | None = None


class Response(SQLModel, table=True):
    """One submitted revision of a person's answers, stored raw before anything is merged."""

    __table_args__ = (UniqueConstraint("invitation_id", "revision"),)
    id: int | None = Field(default=None, primary_key=True)
    invitation_id: int = Field(foreign_key="invitation.id", index=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    revision: int
    answers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    submitted_at: datetime = Field(default_factory=utcnow)
    merged_at: datetime | None = Field(default=None, index=True)


class CommitmentUpdate(SQLModel, table=True):
    """A commitment's status as reported in one round (its history, one row per round)."""

    __table_args__ = (UniqueConstraint("commitment_id", "round_id"),)
    id: int | None = Field(default=None, primary_key=True)
    commitment_id: int = Field(foreign_key="commitment.id", index=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    status: str = Field(max_length=16)
    note: str = Field(default="", max_length=2000)


class Reading(SQLModel, table=True):
    """A metric's value reported in one round."""

    __table_args__ = (UniqueConstraint("metric_id", "round_id"),)
    id: int | None = Field(default=None, primary_key=True)
    metric_id: int = Field(foreign_key="metric.id", index=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    value: float
    # The story behind the curve, in the owner's words.
    note: str = Field(default="", max_length=2000, sa_column_kwargs={"server_default": ""})


class Win(SQLModel, table=True):
    """A win a partner logged in a round."""

    __table_args__ = (UniqueConstraint("round_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    organisation_id: int = Field(foreign_key="organisation.id")
    text: str = Field(max_length=2000)


class Blocker(SQLModel, table=True):
    """A blocker a partner reported in a round, and whether they asked for help."""

    __table_args__ = (UniqueConstraint("round_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    organisation_id: int = Field(foreign_key="organisation.id")
    text: str = Field(max_length=2000)
    help_wanted: bool = False


class Pulse(SQLModel, table=True):
    """A partner's trust pulse (1-5) for a round."""

    __table_args__ = (UniqueConstraint("round_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    score: int


class HelpEdge(SQLModel, table=True):
    """One organisation helped another in a round, as reported by someone at the helped one."""

    __table_args__ = (
        UniqueConstraint("round_id", "helper_organisation_id", "helped_organisation_id",
                         "reported_by_person_id"),
        # Who helped an organisation before, read by its check-in page in a large coalition.
        Index("ix_helpedge_helped_helper", "helped_organisation_id", "helper_organisation_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    helper_organisation_id: int = Field(foreign_key="organisation.id")
    helped_organisation_id: int = Field(foreign_key="organisation.id")
    reported_by_person_id: int = Field(foreign_key="person.id")


class ConflictAnswer(SQLModel, table=True):
    """One answer about a commitment or metric that someone else at the same organisation
    answered differently in a round; the merge rewrites a round's rows each time it runs."""

    __table_args__ = (UniqueConstraint("round_id", "kind", "subject_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    kind: str = Field(max_length=16)  # a ConflictKind
    # A commitment's or a metric's id, by kind, so no foreign key.
    subject_id: int
    person_id: int = Field(foreign_key="person.id")
    organisation_id: int = Field(foreign_key="organisation.id")
    status: str = Field(default="", max_length=16)  # for a commitment
    value: float | None = None  # for a metric
    submitted_at: datetime
    kept: bool = False  # the answer the scoreboard shows: the latest submission


class Scoreboard(SQLModel, table=True):
    """The round's one-page scoreboard, recomputed after every merge."""

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", unique=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    computed_at: datetime = Field(default_factory=utcnow)


class PhaseSnapshot(SQLModel, table=True):
    """The round's phase state as the merge computed it: recomputing gives the same data."""

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", unique=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    computed_at: datetime = Field(default_factory=utcnow)


class EchoMark(SQLModel, table=True):
    """A partner's win-echo answer, the mark the rule suggested and a lead's override."""

    __table_args__ = (UniqueConstraint("round_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    organisation_id: int = Field(foreign_key="organisation.id")
    answer: str = Field(max_length=2000)
    suggested: str = Field(max_length=8)  # an pipeline.core.echo.EchoMark
    reason: str = Field(default="", max_length=500)
    override: str | None = Field(default=None, max_length=8)

    @property
    def mark(self) -> str:
        """Return the mark that counts: the lead's, else the suggested one."""
        return self.override or self.suggested


class Delivery(SQLModel, table=True):
    """The ledger: one row per person, round, email kind and reminder number, so each is sent
    at most once."""

    __table_args__ = (UniqueConstraint("round_id", "person_id", "kind", "reminder"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    kind: str = Field(max_length=32)
    # Which reminder of the round (1, 2, ...) for kind "reminder"; 0 for every other kind.
    reminder: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    status: str = Field(default=DeliveryStatus.QUEUED, max_length=16, index=True)
    attempts: int = 0
    last_error: str = Field(default="", max_length=2000)
    message_id: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    # Where the message went ("SMTP smtp.example.org:587", "file outbox /path"): a file
    # outbox is not an inbox, and status must say which it was.
    via: str = Field(default="", max_length=300)
    # When a temporary failure will be tried again (None when no retry is waiting).
    retry_at: datetime | None = None
    # Who holds the claim while sending: "host:pid" of the sending process, so a restarted
    # worker can release the claims of a process that died without waiting out the lease.
    claimed_by: str = Field(default="", max_length=200)
    # What the SMTP server last answered for this row ("250 2.0.0 Ok: queued as ...",
    # "550 5.1.1 mailbox unavailable"); empty for the file outbox.
    smtp_reply: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})


class SchedulerStep(SQLModel, table=True):
    """One step of a coalition's cadence (open, remind:k, close, digest of a period), claimed
    by the scheduler that inserts it first: the unique key makes every step happen once, however
    many schedulers tick and however often."""

    __table_args__ = (UniqueConstraint("coalition_id", "period_key", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    coalition_id: int = Field(foreign_key="coalition.id", index=True)
    period_key: str = Field(max_length=16)
    kind: str = Field(max_length=16)  # open, remind:<k>, close, digest
    round_id: int | None = Field(default=None, foreign_key="round.id")
    due_at: datetime
    claimed_at: datetime = Field(default_factory=utcnow)
    claimed_by: str = Field(default="", max_length=200)
    done_at: datetime | None = None
    # done (with what it did) or skipped (why). A step whose work fails rolls back with its
    # row, so a later tick tries it again while it still means something.
    outcome: str = Field(default="claimed", max_length=16)
    detail: str = Field(default="", max_length=2000)


class WebhookEndpoint(SQLModel, table=True):
    """A URL of the coalition's that hears about answers and closed rounds (Standard Webhooks).

    The signing secret must be kept to sign each message, so it is stored as given; it opens
    nothing here, it only lets the receiver tell our messages from forgeries.
    """

    id: int | None = Field(default=None, primary_key=True)
    coalition_id: int = Field(foreign_key="coalition.id", index=True)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=100)
    events: str = Field(default="", max_length=500)  # comma-separated; empty means all
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    disabled_reason: str = Field(default="", max_length=300)


class WebhookDelivery(SQLModel, table=True):
    """The delivery log: one message to one endpoint, its attempts and its fate."""

    __table_args__ = (UniqueConstraint("endpoint_id", "event_id"),)
    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhookendpoint.id", index=True)
    event_id: str = Field(max_length=64)  # the webhook-id header: the same on every retry
    event_type: str = Field(max_length=64)
    payload: str  # the exact body signed and sent
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    """A read-only API token for one coalition; only its SHA-256 is stored."""

    id: int | None = Field(default=None, primary_key=True)
    coalition_id: int = Field(foreign_key="coalition.id", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    prefix: str = Field(max_length=16)  # shown in listings, to tell tokens apart
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class AdminUser(SQLModel, table=True):
    """Someone who runs coalitions from the admin pages; only an argon2 hash of the password."""

    __tablename__ = "admin_user"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True, max_length=254)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class SignInLink(SQLModel, table=True):
    """A lead's emailed sign-in link: single use, short-lived; only a hash of its token."""

    __tablename__ = "sign_in_link"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class SignInFailures(SQLModel, table=True):
    """Failed sign-ins counted per account ("account:EMAIL") and per address ("address:IP")."""

    __tablename__ = "sign_in_failures"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=300)
    failures: int = 0
    last_failed_at: datetime = Field(default_factory=utcnow)
    locked_until: datetime | None = None
