from consent_export.sender import PartnerHealth
from consent_export.transport import Delivery, RejectedByPartner, TransientPartnerError

DOWN = TransientPartnerError("HTTP 503", 503)
OK = Delivery(201, "ok")


def test_a_delivery_after_an_outage_means_the_partner_is_back():
    health = PartnerHealth()

    assert [health.back(outcome) for outcome in (DOWN, DOWN, DOWN, OK, OK)] == [
        False, False, False, True, False]


def test_one_transfer_failing_between_successes_is_no_outage():
    health = PartnerHealth()

    assert not any(health.back(outcome) for outcome in (OK, DOWN, OK, DOWN, DOWN, OK))


def test_a_rejection_neither_counts_as_down_nor_as_back():
    health = PartnerHealth()

    assert [health.back(outcome) for outcome in (DOWN, DOWN, RejectedByPartner(400, "no"), DOWN, OK)] == [
        False, False, False, False, True]
