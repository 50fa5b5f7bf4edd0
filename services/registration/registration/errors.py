"""Errors the domain raises. They are the platform's RPC errors (loket.errors), so the caller
gets the same class back and the gateway maps each to one HTTP status."""
from loket.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError

RegistrationError = ServiceError

__all__ = ["Conflict", "Forbidden", "InvalidInput", "NotFound", "RegistrationError"]
