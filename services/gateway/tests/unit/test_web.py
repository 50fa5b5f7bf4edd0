import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.accounts import NotAuthenticated
from gateway.errors import MalformedBody
from gateway.web import bearer_token, client_address, json_body


def request(headers=None, data=None):
    return Request(EnvironBuilder(method="POST", headers=headers or {}, data=data).get_environ())


@pytest.mark.parametrize("header,token", [("Bearer abc", "abc"), ("bearer  abc ", "abc")])
def test_the_bearer_token_is_read_from_the_authorization_header(header, token):
    assert bearer_token(request({"Authorization": header})) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer " + "x" * 201])
def test_anything_but_a_bearer_token_is_not_authenticated(header):
    with pytest.raises(NotAuthenticated):
        bearer_token(request({"Authorization": header} if header is not None else {}))


def test_a_json_object_is_the_only_body():
    assert json_body(request(data=b'{"a": 1}')) == {"a": 1}
    for data in (b"", b"[]", b"null", b"{", b"\xff"):
        with pytest.raises(MalformedBody):
            json_body(request(data=data))


def test_the_client_address_trusts_only_the_configured_proxies():
    assert client_address("10.0.0.5", "198.51.100.7", 0) == "10.0.0.5"
    assert client_address("10.0.0.5", "203.0.113.9, 198.51.100.7", 1) == "198.51.100.7"
    # the leftmost entry is the client's own claim: with one proxy it is ignored
    assert client_address("10.0.0.5", "1.2.3.4, 198.51.100.7", 1) == "198.51.100.7"
    assert client_address("10.0.0.5", "203.0.113.9, 198.51.100.7", 2) == "203.0.113.9"
    assert client_address("10.0.0.5", "not-an-address", 1) == "10.0.0.5"
    assert client_address("10.0.0.5", None, 1) == "10.0.0.5"
    assert client_address("10.0.0.5", "198.51.100.7", 2) == "10.0.0.5"  # fewer hops than proxies: not via them
