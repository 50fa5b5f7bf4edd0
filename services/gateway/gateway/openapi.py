"""The OpenAPI 3 document, generated from the entrypoints' routes and their marshmallow schemas.

Every `@http` entrypoint of the service describes itself (gateway.entrypoints.Route), so a path
cannot exist without being documented, nor be documented without existing.
"""
import inspect
import re
from functools import cache
from http import HTTPStatus

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from gateway import schemas
from gateway.entrypoints import IDENTIFIER_PATTERN, HttpEntrypoint

TITLE = "Lokaal Loket Kinderopvang - gateway"
VERSION = "1"
_PATH_PARAMETER = re.compile(r"<(?:(?P<converter>[^:>]+):)?(?P<name>\w+)>")
_ANY = re.compile(r"any\((?P<choices>[^)]*)\)")


def routes(service_cls) -> list[tuple[str, HttpEntrypoint]]:
    """(method name, entrypoint) of every HTTP entrypoint of the service class, in source order."""
    found = []
    for name, function in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(function, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, HttpEntrypoint):
                found.append((inspect.getsourcelines(function)[1], name, entrypoint))
    return [(name, entrypoint) for _, name, entrypoint in sorted(found, key=lambda item: item[0])]


def _path(url: str, descriptions) -> tuple[str, list[dict]]:
    """A werkzeug rule as an OpenAPI path with its parameters."""
    parameters = []
    for match in _PATH_PARAMETER.finditer(url):
        converter, name = match.group("converter") or "", match.group("name")
        schema = {"type": "string"}
        if converter == "id":
            schema["pattern"] = f"^{IDENTIFIER_PATTERN}$"
        elif choices := _ANY.fullmatch(converter):
            schema["enum"] = [choice.strip() for choice in choices.group("choices").split(",")]
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema,
                           "description": descriptions.get(name, "")})
    return _PATH_PARAMETER.sub(lambda match: "{" + match.group("name") + "}", url), parameters


def _response(status: int, schema, media_type="application/json") -> dict:
    response = {"description": HTTPStatus(status).phrase}
    if schema is not None:
        response["content"] = {media_type: {"schema": schema}}
    if status == 429:
        response["headers"] = {"Retry-After": {"description": "Seconds to wait before trying again.",
                                               "schema": {"type": "integer", "minimum": 1}}}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


def _operation(function_name: str, route, parameters) -> dict:
    operation = {"operationId": function_name, "summary": route.summary, "tags": [route.tag],
                 "responses": {str(status): _response(status, schema, route.media_type)
                               for status, schema in route.responses.items()}}
    operation["responses"].update({str(status): _response(status, "Error") for status in route.errors})
    if route.description:
        operation["description"] = route.description
    if route.query is not None:
        parameters = [*parameters, {"in": "query", "schema": route.query}]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    operation["security"] = [{"bearer": []}] if route.authenticated else []
    return operation


def build(service_cls) -> dict:
    spec = APISpec(title=TITLE, version=VERSION, openapi_version="3.0.3", plugins=[MarshmallowPlugin()],
                   info={"description": "JSON API of the Lokaal Loket for parents, intermediaries, facility "
                                        "managers and the helpdesk. Every error body is an Error."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=schemas.Error)
    for name, entrypoint in routes(service_cls):
        path, parameters = _path(entrypoint.url, entrypoint.route.path_parameters)
        spec.path(path=path, operations={entrypoint.method.lower(): _operation(name, entrypoint.route, parameters)})
    return spec.to_dict()


@cache
def openapi_document(service_cls) -> dict:
    return build(service_cls)
