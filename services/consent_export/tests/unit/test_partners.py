import pytest

from consent_export.fields import KIND_EN_GEZIN, LOP
from consent_export.partners import ConfigurationError, longest_send, transports
from consent_export.transport import FolderTransport, HttpPartnerTransport


def config(**kind_en_gezin):
    return {"EXPORT_FOLDER": "/tmp/exports", "PARTNERS": {KIND_EN_GEZIN: kind_en_gezin, LOP: None}}


def test_the_embedded_default_is_the_folder_transport():
    [transport] = transports(config(), LOP, 1)

    assert isinstance(transport, FolderTransport)


def test_http_gets_one_session_per_concurrent_send():
    pool = transports(config(TRANSPORT="http", URL="https://kg.example/api", TOKEN="t"), KIND_EN_GEZIN, 3)

    assert len({id(transport) for transport in pool}) == 3
    assert all(isinstance(transport, HttpPartnerTransport) for transport in pool)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost/api", "http://[::1]:9000"])
def test_plain_http_only_to_this_machine(url):
    assert transports(config(TRANSPORT="http", URL=url), KIND_EN_GEZIN, 1)


@pytest.mark.parametrize("settings", [
    {"TRANSPORT": "http", "URL": "http://kg.example/api"},
    {"TRANSPORT": "http", "URL": "ftp://kg.example/api"},
    {"TRANSPORT": "http"},
    {"TRANSPORT": "smtp"},
    {"TRANSPORT": "http", "URL": "https://kg.example", "USERNAME": "a", "PASSWORD": "b", "TOKEN": "t"},
    {"TRANSPORT": "http", "URL": "https://kg.example", "USERNAME": "a"},
])
def test_a_wrong_partner_configuration_is_refused_at_start(settings):
    with pytest.raises(ConfigurationError):
        transports(config(**settings), KIND_EN_GEZIN, 1)


def test_a_numeric_password_is_sent_as_text():
    [transport] = transports(config(TRANSPORT="http", URL="https://kg.example", USERNAME="loket",
                                    PASSWORD=123456), KIND_EN_GEZIN, 1)

    assert transport._session.auth == ("loket", "123456")


def test_the_lease_outlasts_the_slowest_partner():
    assert longest_send({"PARTNERS": {KIND_EN_GEZIN: {"CONNECT_TIMEOUT": 2, "TIMEOUT": 30},
                                      LOP: {"TIMEOUT": 5}}}) == 32


def test_a_proxy_from_the_environment_is_used_unless_the_partner_is_excluded(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    [through_proxy] = transports(config(TRANSPORT="http", URL="https://kg.example"), KIND_EN_GEZIN, 1)
    monkeypatch.setenv("NO_PROXY", "kg.example")
    [direct] = transports(config(TRANSPORT="http", URL="https://kg.example"), KIND_EN_GEZIN, 1)

    assert through_proxy._session.proxies.get("https") == "http://proxy.example:3128"
    assert "https" not in direct._session.proxies
