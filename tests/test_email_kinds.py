"""Every email kind is named once (EmailKind) and has a template triple and a registered builder."""

from __future__ import annotations

import pytest

import pipeline.queues
from emails.render import KINDS
from pipeline.core.vocab import EmailKind
from pipeline.email_kinds import builder_for, registered
from pipeline.notices import NOTICE


def test_every_kind_has_a_builder_once_a_worker_loaded_its_job_modules():
    pipeline.queues.load_job_modules()  # what `cos worker` does before its first job
    assert registered() == frozenset(EmailKind)


def test_every_kind_has_subject_text_and_html_templates_and_no_template_is_orphaned():
    # Notices to the people running a coalition go straight to the transport, not the ledger.
    assert {kind.value for kind in EmailKind} | {NOTICE} == KINDS


def test_asking_for_an_unknown_kind_names_the_known_ones():
    with pytest.raises(LookupError, match="digest, invitation"):
        builder_for("newsletter")
