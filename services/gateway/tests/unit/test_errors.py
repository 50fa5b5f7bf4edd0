import json
from datetime import timedelta

import pytest
from marshmallow import ValidationError
from nameko.exceptions import RemoteError, UnknownService
from werkzeug.exceptions import MethodNotAllowed, NotFound as RouteNotFound

from gateway.accounts import EmailNotConfirmed, InvalidAccount, InvalidConfirmation, LoginRefused, NotAuthenticated
from gateway.errors import (
    BackendUnavailable, MalformedBody, PayloadTooLarge, error_response, retry_after_seconds,
)
from gateway.passwords import PasswordRejected
from loket.errors import Conflict, Forbidden, InvalidInput, NotFound


def answer(exc):
    response = error_response(exc)
    return response.status_code, json.loads(response.get_data()), response.headers


@pytest.mark.parametrize("exc,status,code", [
    (MalformedBody(), 400, "malformed_body"),
    (InvalidConfirmation(), 400, "invalid_confirmation"),
    (NotAuthenticated(), 401, "not_authenticated"),
    (LoginRefused(), 401, "login_refused"),
    (EmailNotConfirmed(), 403, "email_not_confirmed"),
    (Forbidden("a parent may only access their own dossier"), 403, "forbidden"),
    (NotFound("dossier 42 not found"), 404, "not_found"),
    (RouteNotFound(), 404, "not_found"),
    (PayloadTooLarge(), 413, "payload_too_large"),
    (BackendUnavailable(), 503, "unavailable"),
    (UnknownService("registration"), 503, "unavailable"),
])
def test_each_error_has_its_status_and_a_json_body(exc, status, code):
    answered_status, body, _ = answer(exc)
    assert (answered_status, body["error"]) == (status, code)
    assert set(body) == {"error", "message"}


def test_refusals_say_nothing_of_the_services_reasons():
    assert "own dossier" not in answer(Forbidden("a parent may only access their own dossier"))[1]["message"]
    assert "42" not in answer(NotFound("dossier 42 not found"))[1]["message"]


def test_a_conflict_says_what_is_in_the_way():
    assert answer(Conflict("request r-1 is cancelled"))[:2] == (
        409, {"error": "conflict", "message": "request r-1 is cancelled"})


@pytest.mark.parametrize("exc,errors", [
    (InvalidInput({"applicant": {"email": ["Not a valid email address."]}}),
     {"applicant": {"email": ["Not a valid email address."]}}),
    (ValidationError({"token": ["Missing data for required field."]}), {"token": ["Missing data for required field."]}),
    (InvalidAccount("email", "not a valid email address"), {"email": ["not a valid email address"]}),
    (PasswordRejected(["too_short", "too_common"]), {"password": ["too_short", "too_common"]}),
])
def test_invalid_input_answers_400_with_field_errors(exc, errors):
    status, body, _ = answer(exc)
    assert (status, body["error"], body["errors"]) == (400, "invalid_input", errors)


def test_a_locked_address_answers_429_with_whole_seconds_to_wait():
    status, body, headers = answer(LoginRefused(retry_after=timedelta(seconds=48, milliseconds=1)))
    assert (status, body["error"], headers["Retry-After"]) == (429, "too_many_attempts", "49")
    assert retry_after_seconds(timedelta(milliseconds=10)) == 1


def test_401_asks_for_a_bearer_token_and_405_says_what_is_allowed():
    assert answer(NotAuthenticated())[2]["WWW-Authenticate"] == "Bearer"
    status, _, headers = answer(MethodNotAllowed(valid_methods=["POST"]))
    assert (status, headers["Allow"]) == (405, "POST")


@pytest.mark.parametrize("exc", [RuntimeError("password=hunter2 at /srv/app.py line 3"),
                                 RemoteError("OperationalError", "connection to db.internal failed"),
                                 KeyError("dossier")])
def test_anything_unexpected_is_a_generic_500(exc):
    status, body, _ = answer(exc)
    assert (status, body) == (500, {"error": "internal", "message": "Something went wrong on our side."})
