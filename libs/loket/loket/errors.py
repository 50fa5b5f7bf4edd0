"""Errors a service raises to its RPC caller. nameko re-raises them as the same class in the
caller (deserialize_to_instance), so the gateway maps each to one HTTP status in one place."""
from nameko.exceptions import deserialize_to_instance


@deserialize_to_instance
class ServiceError(Exception):
    pass


@deserialize_to_instance
class NotFound(ServiceError):
    """404. The message holds ids only, and the gateway never says whether a dossier exists."""


@deserialize_to_instance
class Conflict(ServiceError):
    """409: valid, but the current state forbids it (cancel a closed request, enroll twice)."""


@deserialize_to_instance
class Forbidden(ServiceError):
    """403: this caller may not do this to this dossier."""


@deserialize_to_instance
class InvalidInput(ServiceError):
    """400 with field-level errors: {field: [messages]}, nested like the input."""

    def __init__(self, errors):
        # The errors are the only argument so they survive nameko's exception serialisation.
        super().__init__(errors)
        self.errors = errors
