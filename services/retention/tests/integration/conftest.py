import copy
import uuid
from datetime import datetime, timezone

import pytest
from kombu import Connection
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import create_engine

from loket.clock import ManualClock
from loket.contracts import EXCHANGE, envelope
from loket.contracts.retention import batch_aggregate, receipt_type
from loket.db import normalise_url
from loket.testing import migrated, publish_raw
from retention.service import RetentionService

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

# A dossier SNAPSHOT as notes/events.md defines it; `envelope` checks it against the contract.
SNAPSHOT = {
    "id": None,
    "registered_at": None,
    "last_activity_at": None,
    "registered_by": {"role": "parent", "actor_id": "account-1"},
    "preferred_language": "nl",
    "restricted": False,
    "applicant": {
        "last_name": "Peeters", "first_name": "An", "birth_date": "1990-04-01", "gender": "f",
        "email": "an@example.org", "phone": "+32470000000",
        "address": {"street": "Kerkstraat", "house_number": "1", "postal_code": "1070",
                    "municipality": "Anderlecht"},
    },
    "partner": None,
    "children": [{"id": "chi-1", "last_name": "Peeters", "first_name": None, "birth_date": "2019-03-15",
                  "gender": None, "foster_child": False, "sibling_facility_ids": []}],
    "requests": [],
    "priority": {"dutch_proficiency": False, "dutch_proof_declared": False, "single_parent": False,
                 "income_below_threshold": False, "health_or_care_situation": False,
                 "no_secondary_diploma": False, "work_or_training_need": True,
                 "work_regime_fraction": 1.0, "integration_course_complete": False},
    "consents": {"kind_en_gezin": None, "lop": None},
}


def snapshot(dossier_id, registered_at, last_activity_at, status="active", postal_code="1070",
             desired_start="2019-11-04", restricted=False):
    dossier = copy.deepcopy(SNAPSHOT)
    dossier.update(id=dossier_id, registered_at=registered_at.isoformat(),
                   last_activity_at=last_activity_at.isoformat(), restricted=restricted)
    dossier["applicant"]["address"]["postal_code"] = postal_code
    dossier["requests"] = [{
        "id": f"{dossier_id}-req", "child_id": "chi-1", "desired_start_date": desired_start,
        "care_plan": {"mon": "full", "tue": "morning"}, "facility_ids": ["fac-0001"], "status": status,
        "urgent": False, "enrolled_facility_id": "fac-0001" if status == "enrolled" else None,
        "registered_at": registered_at.isoformat(),
    }]
    return dossier


class Registration:
    """Publishes registration events for one dossier, as the registration service would."""

    def __init__(self, amqp_uri, dossier_id, registered_at, **snapshot_options):
        self.amqp_uri = amqp_uri
        self.dossier_id = dossier_id
        self.registered_at = registered_at
        self.options = snapshot_options
        self.sequence = 0

    def publish(self, event_type, at, status="active", **data):
        self.sequence += 1
        if event_type != "registration.dossier_erased":
            data["dossier"] = snapshot(self.dossier_id, self.registered_at, at, status, **self.options)
        body = envelope(event_type, data, aggregate_id=self.dossier_id, sequence=self.sequence,
                        producer="registration", occurred_at=at)
        publish_raw(self.amqp_uri, event_type, body)
        return body

    def register(self):
        return self.publish("registration.dossier_registered", self.registered_at)

    def close_request(self, at, event_type="registration.request_cancelled"):
        extra = {"request_cancelled": {"cancelled_by": {"role": "parent", "actor_id": "account-1"}, "reason": None},
                 "request_enrolled": {"facility_id": "fac-0001"},
                 "request_expired": {}}[event_type.split(".")[1]]
        status = {"request_cancelled": "cancelled", "request_enrolled": "enrolled",
                  "request_expired": "expired"}[event_type.split(".")[1]]
        return self.publish(event_type, at, status=status, request_id=f"{self.dossier_id}-req", **extra)

    def update(self, at, status="cancelled"):
        return self.publish("registration.dossier_updated", at, status=status,
                            changed_by={"role": "parent", "actor_id": "account-1"}, changed_sections=["contact"])


@pytest.fixture
def registration(amqp_uri):
    """registration(dossier_id, registered_at, **snapshot options) -> a Registration publishing its events."""
    return lambda dossier_id, registered_at, **options: Registration(amqp_uri, dossier_id, registered_at, **options)


@pytest.fixture
def publish_receipt(amqp_uri):
    """publish_receipt(service, *(dossier_id, run_id), answering=None, version=2) -> the receipt: a
    data holder's answer, as its outbox sends it. Version 2 confirms every pair and answers the
    request event `answering` (its batch: aggregate and sequence), else a batch of its own;
    version 1, the shape queued before the upgrade, confirms one pair."""
    def publish(service, *erased, answering=None, version=2):
        event_type = receipt_type(service)
        if version == 1:
            [(dossier_id, run_id)] = erased
            data = {"dossier_id": dossier_id, "run_id": run_id, "service": service, "erased_rows": 3}
            aggregate_id, sequence = dossier_id, 1
        else:
            data = {"service": service, "erased": [{"dossier_id": dossier_id, "run_id": run_id, "erased_rows": 3}
                                                   for dossier_id, run_id in erased]}
            aggregate_id, sequence = ((answering["aggregate_id"], answering["sequence"]) if answering
                                      else (batch_aggregate(str(uuid.uuid4())), 1))
        body = envelope(event_type, data, aggregate_id=aggregate_id, sequence=sequence, producer=service,
                        version=version)
        publish_raw(amqp_uri, event_type, body)
        return body
    return publish


@pytest.fixture
def test_queue(amqp_uri):
    """test_queue(name, routing_key): a queue of the test's own, to see events no service subscribes to."""
    def bind(name, routing_key):
        with Connection(amqp_uri) as connection:
            channel = connection.channel()
            channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
            channel.queue_declare(name, durable=False, auto_delete=False)
            channel.queue_bind(name, EXCHANGE, routing_key=routing_key)
        return name
    return bind


@pytest.fixture
def service_config(amqp_uri, database_url):
    """The service's config, on a database migrated already (a test may fill tables before it starts)."""
    return {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": migrated(RetentionService, database_url),
        "RETRY_DELAYS_MS": [100, 200],
        "ERASURE_SCAN_INTERVAL": 3600,  # the tests scan through run_due_erasures()
        "ERASURE_RETRY_AFTER": 3600,
        "ERASURE_GIVE_UP_AFTER": 86400,
        "max_workers": 1,  # events handled in queue order, so a sentinel event marks "all before it done"
    }


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def start_retention(start_service, service_config, clock):
    """start(**config overrides) -> the running container, on the test clock."""
    def start(**overrides):
        return start_service(RetentionService, {**service_config, **overrides}, clock=clock, migrate=False)
    return start


@pytest.fixture
def rpc(service_config):
    with ServiceRpcProxy("retention", service_config) as proxy:
        yield proxy


@pytest.fixture
def database(service_config):
    engine = create_engine(normalise_url(service_config["DATABASE_URL"]))
    yield engine
    engine.dispose()
