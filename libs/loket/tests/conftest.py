from marshmallow import Schema, fields

from loket import contracts


class PingV1(Schema):
    n = fields.Integer(required=True)


# A test-only event routed like every registration event ("registration.#").
PING = "registration.test_ping"
contracts.register({(PING, 1): PingV1})
