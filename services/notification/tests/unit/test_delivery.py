import pytest
from jinja2 import UndefinedError

from notification.delivery import RetryPolicy, after_failure, describe
from notification.emails import UndeliverableEmail
from notification.transport import PermanentMailError, TransientMailError

POLICY = RetryPolicy(max_attempts=5, base_delay=2.0, max_delay=10.0)


def test_waits_double_per_attempt_up_to_the_cap():
    assert [POLICY.delay(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert RetryPolicy().delay(10_000) == RetryPolicy().max_delay


def test_a_transient_error_is_retried_while_the_budget_lasts_then_parked():
    error = TransientMailError("connection failed: ConnectionRefusedError")
    assert [after_failure(POLICY, n, error).retry_in for n in range(1, 6)] == [2.0, 4.0, 8.0,
                                                                               10.0, None]
    assert after_failure(POLICY, 5, error).reason == \
        "TransientMailError: connection failed: ConnectionRefusedError"


@pytest.mark.parametrize("error", [
    PermanentMailError("recipient refused", 550),
    UndeliverableEmail("recipient address invalid"),
    UndefinedError("'facility_name' is undefined"),
])
def test_anything_else_is_parked_at_the_first_failure(error):
    assert after_failure(POLICY, 1, error).retry_in is None


def test_reasons_keep_mail_errors_but_only_the_class_of_anything_else():
    assert describe(PermanentMailError("recipient refused", 550)) == \
        "PermanentMailError: recipient refused (SMTP 550)"
    # A template error quotes the context, which may be personal data.
    assert describe(KeyError("sara.peeters@example.org")) == "KeyError"


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": 0},
                                    {"base_delay": 5, "max_delay": 1}])
def test_an_unusable_policy_is_refused(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
