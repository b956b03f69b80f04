"""The feedback store's invariants on DynamoDB (moto): one survey per period, one answer per visit with
its roll-up, a referral counted once, versioned settings; roll-ups read back for analytics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.feedback.model import Answer, FeedbackSettings, Referral, months_before
from chalicelib.feedback.store import FeedbackStore

NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)


def test_a_patient_is_admitted_to_one_survey_per_period(aws: None) -> None:
    store = FeedbackStore()
    cutoff = months_before(NOW, 6)
    assert store.claim_survey("P1", "PAT-A", "A1", NOW, cutoff)
    assert store.claim_survey("P1", "PAT-A", "A1", NOW + timedelta(minutes=1), cutoff)  # the same visit again
    later = NOW + timedelta(days=90)
    assert not store.claim_survey("P1", "PAT-A", "A2", later, months_before(later, 6))
    assert store.claim_survey("P1", "PAT-B", "B1", later, months_before(later, 6))
    much_later = NOW + timedelta(days=190)
    assert store.claim_survey("P1", "PAT-A", "A3", much_later, months_before(much_later, 6))


def test_an_answer_is_written_once_and_rolled_up_once(aws: None) -> None:
    store = FeedbackStore()
    answer = Answer("P1", "A1", "PAT-A", "DR1", 9, "Great", "en", NOW, "2027-03")
    assert store.record_answer(answer)
    assert not store.record_answer(answer)
    assert store.record_answer(Answer("P1", "A2", "PAT-B", "DR2", 3, "", "es", NOW + timedelta(hours=1), "2027-03"))
    (march, april) = store.feedback_rollups("P1", ["2027-03", "2027-04"])
    assert (march.scores.responses, march.scores.score_sum, march.scores.promoters, march.scores.detractors) == (
        2,
        12,
        1,
        1,
    )
    assert march.by_provider["DR1"].responses == 1 and april.scores.responses == 0
    assert [a.appointment_id for a in store.answers("P1", NOW - timedelta(days=1), NOW + timedelta(days=1))] == [
        "A2",
        "A1",
    ]
    assert store.feedback_rollups("P2", ["2027-03"])[0].scores.responses == 0


def test_a_referral_counts_once_and_the_first_referrer_of_a_contact_wins(aws: None) -> None:
    store = FeedbackStore()
    store.save_code("P1", "ABCDEFGH", "PAT-A")
    store.save_code("P1", "ABCDEFGH", "PAT-Z")  # a code keeps its first owner
    assert store.code_owner("P1", "ABCDEFGH") == "PAT-A" and store.code_owner("P2", "ABCDEFGH") is None
    first = Referral("r1", "PAT-A", "ABCDEFGH", NOW)
    store.add_referral("P1", first, ["+15555550133"])
    store.add_referral("P1", Referral("r2", "PAT-C", "CCCCCCCC", NOW), ["+15555550133"])
    found = store.referral_for_address("P1", "+15555550133")
    assert found is not None and found.referrer_id == "PAT-A"
    assert store.count_referral("P1", found, "PAT-N", "2027-03", NOW)
    assert not store.count_referral("P1", found, "PAT-N", "2027-03", NOW)
    (march,) = store.feedback_rollups("P1", ["2027-03"])
    assert march.referrals == 1 and march.by_referrer == {"PAT-A": 1}


def test_settings_move_version_by_version(aws: None) -> None:
    store = FeedbackStore()
    assert store.settings("P1").version == 0
    assert store.save_settings("P1", FeedbackSettings(review_links={"yelp": "https://y.example.test/m"}), 0)
    assert not store.save_settings("P1", FeedbackSettings(), 0)
    saved = store.settings("P1")
    assert saved.version == 1 and saved.review_links == {"yelp": "https://y.example.test/m"}
    assert store.save_settings("P1", FeedbackSettings(rewards_enabled=True), 1)
    assert store.settings("P1").rewards_enabled is True
