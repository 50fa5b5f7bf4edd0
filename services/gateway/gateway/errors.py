"""Every error the gateway answers, mapped to its HTTP status in one place.

The body is always JSON: {"error": code, "message": text}, plus {"errors": {field: [messages]}}
for invalid input. A message never carries a stack trace or an exception's internals; an
unexpected error is logged with the request's correlation id and answered with a generic 500.

Whether a refused dossier operation is a 403 or a 404 is the owning service's answer: it sends NotFound
to a caller who may not even read the dossier, so its existence is never revealed, and Forbidden to a
reader refused the operation. The mapping here is the same for every caller.
"""
import logging
import math
from datetime import timedelta

from marshmallow import ValidationError
from nameko.exceptions import UnknownService
from werkzeug.exceptions import HTTPException

from gateway.accounts import (
    EmailNotConfirmed, InvalidAccount, InvalidConfirmation, LoginRefused, NotAuthenticated,
)
from gateway.passwords import PasswordRejected
from gateway.throttling import TooManyAttempts
from gateway.responses import json_response
from loket.errors import Conflict, Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)


class MalformedBody(Exception):
    """The body is not a JSON object (400)."""


class PayloadTooLarge(Exception):
    """The body exceeds the configured limit (413)."""


class BackendUnavailable(Exception):
    """The owning service did not answer in time or is not running (503)."""


# status, error code, message the client sees (None: the exception's own message, written for users)
_STATUS = [
    (MalformedBody, 400, "malformed_body", "The body must be a JSON object."),
    (NotAuthenticated, 401, "not_authenticated", "Log in and send the session token as a bearer token."),
    # only after the right password, so it tells nothing to someone who does not know it
    (EmailNotConfirmed, 403, "email_not_confirmed", "Confirm your email address first."),
    (LoginRefused, 401, "login_refused", "Wrong email or password."),
    (InvalidConfirmation, 400, "invalid_confirmation", "The confirmation token is unknown, used or expired."),
    (Forbidden, 403, "forbidden", "You may not do this with this dossier."),
    (NotFound, 404, "not_found", "Not found."),
    (Conflict, 409, "conflict", None),
    (PayloadTooLarge, 413, "payload_too_large", "The body is too large."),
    (BackendUnavailable, 503, "unavailable", "The service is unavailable; try again later."),
    (UnknownService, 503, "unavailable", "The service is unavailable; try again later."),
]


CLIENT_ERRORS = (InvalidInput, ValidationError, InvalidAccount, PasswordRejected, HTTPException, TooManyAttempts,
                 *(error_class for error_class, status, _, _ in _STATUS if status < 500))


def _invalid(errors):
    return json_response(400, {"error": "invalid_input", "message": "The input is not valid.", "errors": errors})


def _too_many(wait: timedelta, message: str):
    return json_response(429, {"error": "too_many_attempts", "message": message},
                         headers={"Retry-After": str(retry_after_seconds(wait))})


def error_response(exc: BaseException):
    """The one answer for `exc`, raised by a handler, the backend or the HTTP layer."""
    if isinstance(exc, InvalidInput):
        return _invalid(exc.errors)
    if isinstance(exc, ValidationError):
        return _invalid(exc.messages)
    if isinstance(exc, InvalidAccount):
        return _invalid({exc.field_name: [exc.message]})
    if isinstance(exc, PasswordRejected):
        return _invalid({"password": exc.problems})
    if isinstance(exc, LoginRefused) and exc.retry_after is not None:
        return _too_many(exc.retry_after, "Too many failed logins; wait.")
    if isinstance(exc, TooManyAttempts):
        return _too_many(exc.retry_after, exc.message)
    for error_class, status, code, message in _STATUS:
        if isinstance(exc, error_class):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return json_response(status, {"error": code, "message": message or str(exc)}, headers)
    if isinstance(exc, HTTPException) and exc.code and exc.code < 500:
        headers = [(name, value) for name, value in exc.get_headers() if name.lower() == "allow"]
        return json_response(exc.code, {"error": exc.name.lower().replace(" ", "_"), "message": exc.description},
                             headers)
    log.error("unexpected error answering a request", exc_info=exc)
    return json_response(500, {"error": "internal", "message": "Something went wrong on our side."})


def retry_after_seconds(wait: timedelta) -> int:
    """Whole seconds, rounded up, so a client that waits as told is not refused again."""
    return max(1, math.ceil(wait.total_seconds()))
