from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from loket.contracts import registration as contract
from registration import claims, dossiers, schemas
from registration.errors import Conflict, Forbidden, InvalidInput, NotFound
from registration.models import (
    AccessGrant, Applicant, AuditEntry, Child, Consent, Dossier, Partner, PriorityData, Request,
    metadata,
)

LATER = timedelta(days=3)


@pytest.fixture
def call(session, events, today):
    """call(function, dossier_id, schema, payload, actor, now, *extra): validate, run, commit."""

    def _call(function, dossier_id, schema, payload, actor, now, *extra):
        data = schemas.validate(schema, payload, today)
        result = function(session, now, dossier_id, data, actor, events, *extra)
        session.commit()
        return result

    return _call


def test_register_dossier_stores_the_dossier_and_records_its_event(session, register, events,
                                                                    now, parent):
    snapshot = register(actor=parent)

    dossier = session.get(Dossier, snapshot["id"])
    assert (dossier.version, dossier.registered_at, dossier.last_activity_at) == (1, now, now)
    assert dossier.applicant.email == "an.peeters@example.org"
    assert dossier.applicant.postal_code == "1000"
    assert dossier.partner.first_name == "Bart"
    assert [c.first_name for c in dossier.children] == ["Mila"]
    assert dossier.requests[0].child_id == dossier.children[0].id
    assert dossier.requests[0].status == "active"
    assert dossier.requests[0].facility_ids == ["fac-0001", "fac-0002"]
    assert dossier.priority.applicant_employer == "Stad Brussel"
    assert [(c.partner, c.given, c.policy_version, c.method, c.by_role, c.by_actor_id)
            for c in dossier.consents] == [("kind_en_gezin", True, "2024-05", "web", "parent",
                                            "account-1")]
    assert events.calls == [{"type": contract.DOSSIER_REGISTERED, "aggregate_id": dossier.id,
                             "sequence": 1, "data": {"dossier": snapshot}}]
    assert session.scalars(select(AuditEntry.operation)).all() == ["register_dossier"]


def test_register_without_consent_or_partner_works(session, register, payload, parent):
    situation = payload()["situation"]
    del situation["work"]["partner"], situation["education"]["partner"]

    snapshot = register(partner=None, consents=None, situation=situation)

    assert snapshot["partner"] is None
    assert snapshot["consents"] == {"kind_en_gezin": None, "lop": None}
    assert session.scalar(select(func.count()).select_from(Consent)) == 0


def test_registration_by_an_intermediary_grants_them_access(session, register):
    snapshot = register(registered_by={"role": "intermediary", "actor_id": "org-5"})

    grant = session.scalars(select(AccessGrant)).one()
    assert (grant.dossier_id, grant.role, grant.actor_id) == (snapshot["id"], "intermediary",
                                                              "org-5")
    assert snapshot["registered_by"] == {"role": "intermediary", "actor_id": "org-5"}


def test_get_dossier_returns_the_view_with_the_health_situation(session, register, keyring, now,
                                                                 parent, health_text):
    snapshot = register()

    view = dossiers.get_dossier(session, now, snapshot["id"], parent, keyring)

    assert view["situation"]["health"] == {"care_situation": True, "detail": health_text}
    assert view["situation"]["work"]["applicant"]["regime"] == 0.8
    assert view["version"] == 1
    assert {k: v for k, v in view.items() if k in snapshot} == snapshot
    assert [c["partner"] for c in view["consent_history"]] == ["kind_en_gezin"]
    assert session.scalars(select(AuditEntry.operation)).all() == ["register_dossier",
                                                                   "get_dossier"]


def test_a_dossier_is_loaded_once_per_transaction(session, register, keyring, now, parent):
    """The access check loads the dossier, then the operation does: the second load must not
    query again, even after the first caller dropped its reference."""
    import gc

    from sqlalchemy import event

    dossier_id = register()["id"]
    session.commit()
    session.expunge_all()
    statements = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        dossiers.load_dossier(session, dossier_id)
        first = len(statements)
        gc.collect()
        dossiers.load_dossier(session, dossier_id)
    finally:
        event.remove(engine, "before_cursor_execute", listener)

    assert 1 <= first <= 5  # the dossier with its one-to-ones, then one query per collection
    assert len(statements) == first


def test_get_dossier_of_an_unknown_dossier_is_not_found(session, keyring, now, parent):
    with pytest.raises(NotFound):
        dossiers.get_dossier(session, now, "no-such-dossier", parent, keyring)


def test_update_contact_changes_the_given_fields_only(session, register, call, events, now,
                                                       parent):
    dossier_id = register()["id"]

    data = call(dossiers.update_contact, dossier_id, schemas.UpdateContactInput,
                {"applicant": {"email": "an@new.example", "address": {"postal_code": "1080"}},
                 "preferred_language": "fr"}, parent, now + LATER)

    applicant = data["dossier"]["applicant"]
    assert applicant["email"] == "an@new.example"
    assert applicant["address"] == {"street": "Hoogstraat", "house_number": "12B",
                                    "postal_code": "1080", "municipality": "Brussel"}
    assert applicant["first_name"] == "An"
    assert data["dossier"]["preferred_language"] == "fr"
    assert data["changed_by"] == parent
    assert data["changed_sections"] == ["contact"]
    assert (events.last["type"], events.last["sequence"]) == (contract.DOSSIER_UPDATED, 2)
    dossier = session.get(Dossier, dossier_id)
    assert (dossier.version, dossier.last_activity_at) == (2, now + LATER)


def test_removing_the_partner_forgets_the_partners_situation(session, register, call, now,
                                                             parent):
    dossier_id = register()["id"]

    data = call(dossiers.update_contact, dossier_id, schemas.UpdateContactInput,
                {"partner": None}, parent, now)

    assert data["changed_sections"] == ["partner"]
    assert data["dossier"]["partner"] is None
    # the applicant alone: works 4/5, higher education
    assert data["dossier"]["priority"]["work_regime_fraction"] == 0.8
    assert data["dossier"]["priority"]["work_or_training_need"] is True
    priority = session.get(PriorityData, dossier_id)
    assert (priority.partner_work_regime, priority.partner_education_level) == (None, None)


def test_a_new_partner_replaces_the_old_one(session, register, call, now, parent):
    dossier_id = register()["id"]
    partner = {"last_name": "Dubois", "first_name": "Chris", "birth_date": "1991-02-03",
               "gender": "x"}

    data = call(dossiers.update_contact, dossier_id, schemas.UpdateContactInput,
                {"partner": partner}, parent, now)

    assert data["dossier"]["partner"] == {**partner, "email": None, "phone": None}


def test_update_situation_replaces_the_priority_data(session, register, call, payload, keyring,
                                                      now, parent):
    snapshot = register()
    child_id = snapshot["children"][0]["id"]
    situation = payload()["situation"]
    situation["family"]["single_parent"] = True
    situation["health"] = {"care_situation": False, "detail": None}
    situation["work"]["partner"] = {"regime": "full"}

    data = call(dossiers.update_situation, snapshot["id"], schemas.UpdateSituationInput,
                {"situation": situation,
                 "children": [{"id": child_id, "foster_child": True,
                               "sibling_facility_ids": ["fac-0009"]}]},
                parent, now, keyring)

    priority = data["dossier"]["priority"]
    assert priority["single_parent"] is True
    assert priority["health_or_care_situation"] is False
    assert priority["work_regime_fraction"] == 0.9
    assert data["dossier"]["children"][0]["foster_child"] is True
    assert data["dossier"]["children"][0]["sibling_facility_ids"] == ["fac-0009"]
    assert data["changed_sections"] == ["situation", "children"]
    assert session.get(PriorityData, snapshot["id"]).health_situation_encrypted is None


def test_update_situation_refuses_unknown_children_and_missing_partner_data(
        session, register, payload, keyring, events, now, parent, today, state):
    dossier_id = register()["id"]
    situation = payload()["situation"]
    del situation["education"]["partner"]
    data = schemas.validate(schemas.UpdateSituationInput, {
        "situation": situation,
        "children": [{"id": "no-such-child", "foster_child": True, "sibling_facility_ids": []}],
    }, today)
    before, recorded = state(), len(events.calls)

    with pytest.raises(InvalidInput) as refused:
        dossiers.update_situation(session, now, dossier_id, data, parent, events, keyring)

    assert refused.value.errors == {
        "situation": {"education": {"partner": ["Required when the dossier has a partner."]}},
        "children": {0: {"id": ["No such child in the dossier."]}},
    }
    assert state() == before
    assert len(events.calls) == recorded


def test_add_child_adds_a_child_with_its_request(session, register, call, payload, events, now,
                                                 parent):
    dossier_id = register()["id"]
    sibling = {"last_name": "Janssens", "birth_date": "2025-10-01",
               "request": {"desired_start_date": "2026-02-01", "care_plan": {"fri": "afternoon"},
                           "facility_ids": ["fac-0003"]}}

    data = call(dossiers.add_child, dossier_id, schemas.AddChildInput, sibling, parent, now)

    children, requests = data["dossier"]["children"], data["dossier"]["requests"]
    assert [c["id"] for c in children][1] == data["child_id"]
    assert children[1]["first_name"] is None and children[1]["gender"] is None
    assert requests[1] == {"id": data["request_id"], "child_id": data["child_id"],
                           "desired_start_date": "2026-02-01", "care_plan": {"fri": "afternoon"},
                           "facility_ids": ["fac-0003"], "status": "active", "urgent": False,
                           "enrolled_facility_id": None, "registered_at": now.isoformat()}
    assert events.last["type"] == contract.CHILD_ADDED
    assert session.scalar(select(func.count()).select_from(Request)) == 2


def test_change_facilities_replaces_the_choice(session, register, call, now, parent):
    snapshot = register()
    request_id = snapshot["requests"][0]["id"]

    data = call(dossiers.change_facilities, snapshot["id"], schemas.ChangeFacilitiesInput,
                {"request_id": request_id, "facility_ids": ["fac-0005"]}, parent, now)

    assert data["request_id"] == request_id
    assert data["dossier"]["requests"][0]["facility_ids"] == ["fac-0005"]
    assert session.get(Request, request_id).facility_ids == ["fac-0005"]


def test_consent_can_be_given_withdrawn_and_given_again(session, register, call, events, now,
                                                        parent):
    dossier_id = register()["id"]
    lop = {"partner": "lop", "policy_version": "2024-05", "method": "paper"}

    given = call(dossiers.give_consent, dossier_id, schemas.ConsentInput, lop, parent, now)
    withdrawn = call(dossiers.withdraw_consent, dossier_id, schemas.ConsentInput, lop, parent,
                     now + LATER)

    assert given["partner"] == "lop"
    assert given["dossier"]["consents"]["lop"]["given"] is True
    assert withdrawn["dossier"]["consents"]["lop"]["given"] is False
    assert withdrawn["dossier"]["consents"]["lop"]["at"] == (now + LATER).isoformat()
    assert withdrawn["dossier"]["consents"]["kind_en_gezin"]["given"] is True
    assert events.types()[-2:] == [contract.CONSENT_GIVEN, contract.CONSENT_WITHDRAWN]
    history = session.scalars(select(Consent).where(Consent.partner == "lop")
                              .order_by(Consent.dossier_version)).all()
    assert [(c.given, c.dossier_version) for c in history] == [(True, 2), (False, 3)]

    again = call(dossiers.give_consent, dossier_id, schemas.ConsentInput, lop, parent, now)
    assert again["dossier"]["consents"]["lop"]["given"] is True


def test_consent_conflicts(session, register, call, now, parent):
    dossier_id = register()["id"]

    with pytest.raises(Conflict):  # already given for this policy version at registration
        call(dossiers.give_consent, dossier_id, schemas.ConsentInput,
             {"partner": "kind_en_gezin", "policy_version": "2024-05", "method": "web"},
             parent, now)
    with pytest.raises(Conflict):  # never given
        call(dossiers.withdraw_consent, dossier_id, schemas.ConsentInput,
             {"partner": "lop", "policy_version": "2024-05", "method": "web"}, parent, now)

    renewed = call(dossiers.give_consent, dossier_id, schemas.ConsentInput,
                   {"partner": "kind_en_gezin", "policy_version": "2025-01", "method": "web"},
                   parent, now)
    assert renewed["dossier"]["consents"]["kind_en_gezin"]["policy_version"] == "2025-01"


def test_the_parent_cancels_without_a_reason(session, register, call, now, parent):
    snapshot = register()
    request_id = snapshot["requests"][0]["id"]

    data = call(dossiers.cancel_request, snapshot["id"], schemas.CancelRequestInput,
                {"request_id": request_id}, parent, now + LATER)

    assert (data["request_id"], data["cancelled_by"], data["reason"]) == (request_id, parent, None)
    assert data["dossier"]["requests"][0]["status"] == "cancelled"
    request = session.get(Request, request_id)
    assert (request.status, request.closed_at) == ("cancelled", now + LATER)


def test_the_helpdesk_cancels_with_a_reason_only(session, register, call, now, helpdesk):
    snapshot = register()
    request_id = snapshot["requests"][0]["id"]

    with pytest.raises(InvalidInput) as refused:
        call(dossiers.cancel_request, snapshot["id"], schemas.CancelRequestInput,
             {"request_id": request_id}, helpdesk, now)
    assert list(refused.value.errors) == ["reason"]

    data = call(dossiers.cancel_request, snapshot["id"], schemas.CancelRequestInput,
                {"request_id": request_id, "reason": "Child registered twice"}, helpdesk, now)
    assert (data["reason"], data["cancelled_by"]) == ("Child registered twice", helpdesk)
    assert session.get(Request, request_id).cancel_reason == "Child registered twice"


def test_a_closed_request_cannot_be_cancelled_changed_or_enrolled(register, call, now, parent):
    snapshot = register()
    request_id = snapshot["requests"][0]["id"]
    call(dossiers.cancel_request, snapshot["id"], schemas.CancelRequestInput,
         {"request_id": request_id}, parent, now)

    for function, schema, payload in [
        (dossiers.cancel_request, schemas.CancelRequestInput, {}),
        (dossiers.change_facilities, schemas.ChangeFacilitiesInput, {"facility_ids": ["f-1"]}),
        (dossiers.record_enrollment, schemas.RecordEnrollmentInput, {"facility_id": "fac-0001"}),
    ]:
        with pytest.raises(Conflict):
            call(function, snapshot["id"], schema, {"request_id": request_id, **payload}, parent,
                 now)


def test_only_the_helpdesk_or_the_system_marks_a_request_urgent(register, call, events, now,
                                                                parent, helpdesk):
    snapshot = register()
    request = {"request_id": snapshot["requests"][0]["id"]}

    with pytest.raises(Forbidden):
        call(dossiers.mark_urgent, snapshot["id"], schemas.MarkUrgentInput, request, parent, now)
    data = call(dossiers.mark_urgent, snapshot["id"], schemas.MarkUrgentInput, request, helpdesk,
                now)
    with pytest.raises(Conflict):
        call(dossiers.mark_urgent, snapshot["id"], schemas.MarkUrgentInput, request,
             {"role": "system", "actor_id": None}, now)

    assert data["dossier"]["requests"][0]["urgent"] is True
    assert data["marked_by"] == helpdesk
    assert events.types() == [contract.DOSSIER_REGISTERED, contract.REQUEST_MARKED_URGENT]


def test_only_the_helpdesk_flags_a_dossier(session, register, call, now, parent, helpdesk):
    dossier_id = register()["id"]
    flag = {"flag": "incomplete", "message": "Please add the care plan for Thursday."}

    with pytest.raises(Forbidden):
        call(dossiers.flag_dossier, dossier_id, schemas.FlagDossierInput, flag, parent, now)
    data = call(dossiers.flag_dossier, dossier_id, schemas.FlagDossierInput, flag, helpdesk, now)

    assert (data["flag"], data["message"], data["flagged_by"]) == (
        "incomplete", "Please add the care plan for Thursday.", helpdesk)
    dossier = session.get(Dossier, dossier_id)
    assert (dossier.flagged, dossier.flag, dossier.flagged_at) == (True, "incomplete", now)


def test_enrollment_closes_the_request_and_other_facilities_lose_access(session, register, call,
                                                                         events, now):
    manager = {"role": "facility_manager", "actor_id": "fm-2"}
    snapshot = register(actor=manager, registered_by={**manager, "facility_id": "fac-0002"})
    request_id = snapshot["requests"][0]["id"]
    assert dossiers.facilities_with_access(session.get(Dossier, snapshot["id"])) == {
        "fac-0001", "fac-0002"}

    data = call(dossiers.record_enrollment, snapshot["id"], schemas.RecordEnrollmentInput,
                {"request_id": request_id, "facility_id": "fac-0001"},
                {"role": "system", "actor_id": None}, now + LATER)

    assert (data["request_id"], data["facility_id"]) == (request_id, "fac-0001")
    enrolled = data["dossier"]["requests"][0]
    assert (enrolled["status"], enrolled["enrolled_facility_id"]) == ("enrolled", "fac-0001")
    assert session.get(Request, request_id).closed_at == now + LATER
    dossier = session.get(Dossier, snapshot["id"])
    assert dossiers.facilities_with_access(dossier) == {"fac-0001"}
    assert session.scalars(select(AccessGrant)).all() == []
    assert events.last["type"] == contract.REQUEST_ENROLLED

    with pytest.raises(Conflict):  # enroll twice
        call(dossiers.record_enrollment, snapshot["id"], schemas.RecordEnrollmentInput,
             {"request_id": request_id, "facility_id": "fac-0001"}, manager, now)


def test_the_enrolling_facilitys_manager_keeps_access(session, register, call, now):
    manager = {"role": "facility_manager", "actor_id": "fm-1"}
    snapshot = register(actor=manager, registered_by={**manager, "facility_id": "fac-0001"})

    call(dossiers.record_enrollment, snapshot["id"], schemas.RecordEnrollmentInput,
         {"request_id": snapshot["requests"][0]["id"], "facility_id": "fac-0001"}, manager, now)

    assert [g.actor_id for g in session.scalars(select(AccessGrant))] == ["fm-1"]


def test_enrollment_needs_a_chosen_facility_unless_the_request_is_urgent(register, call, now,
                                                                         helpdesk):
    snapshot = register()
    enrollment = {"request_id": snapshot["requests"][0]["id"], "facility_id": "fac-0042"}

    with pytest.raises(Conflict):
        call(dossiers.record_enrollment, snapshot["id"], schemas.RecordEnrollmentInput,
             enrollment, helpdesk, now)
    call(dossiers.mark_urgent, snapshot["id"], schemas.MarkUrgentInput,
         {"request_id": enrollment["request_id"]}, helpdesk, now)
    data = call(dossiers.record_enrollment, snapshot["id"], schemas.RecordEnrollmentInput,
                enrollment, helpdesk, now)

    assert data["dossier"]["requests"][0]["enrolled_facility_id"] == "fac-0042"


def test_an_intermediarys_change_renews_their_access(session, register, call, now):
    intermediary = {"role": "intermediary", "actor_id": "org-5"}
    dossier_id = register(actor=intermediary, registered_by=intermediary)["id"]

    call(dossiers.update_contact, dossier_id, schemas.UpdateContactInput,
         {"preferred_language": "en"}, intermediary, now + LATER)
    call(dossiers.update_contact, dossier_id, schemas.UpdateContactInput,
         {"preferred_language": "fr"}, {"role": "parent", "actor_id": "a-1"}, now + 2 * LATER)

    grant = session.scalars(select(AccessGrant)).one()
    assert (grant.granted_at, grant.last_change_at) == (now, now + LATER)


def _start_in(register, payload, start):
    child = payload()["children"][0]
    child["birth_date"] = "2024-01-01"
    child["request"]["desired_start_date"] = start.isoformat()
    return register(children=[child, {**child, "first_name": "Lou"}])


def test_expire_requests_expires_requests_past_the_grace_period(session, register, payload,
                                                                events, now, today, helpdesk,
                                                                call):
    old = _start_in(register, payload, today)
    recent = _start_in(register, payload, today + timedelta(days=1))
    call(dossiers.cancel_request, old["id"], schemas.CancelRequestInput,
         {"request_id": old["requests"][1]["id"], "reason": "duplicate"}, helpdesk, now)
    later = now + timedelta(days=31)
    events.calls.clear()

    expired = dossiers.expire_requests(session, later, 30, events)
    session.commit()

    assert expired == 1
    assert [(c["type"], c["aggregate_id"], c["sequence"], c["data"]["request_id"])
            for c in events.calls] == [
        (contract.REQUEST_EXPIRED, old["id"], 3, old["requests"][0]["id"])]
    assert session.get(Request, old["requests"][0]["id"]).status == "expired"
    assert session.get(Request, old["requests"][0]["id"]).closed_at == later
    assert session.get(Dossier, old["id"]).last_activity_at == later
    assert {r.status for r in session.scalars(select(Request).where(
        Request.dossier_id == recent["id"]))} == {"active"}
    audit = session.scalars(select(AuditEntry).where(AuditEntry.operation == "expire_request"))
    assert [(a.actor_role, a.dossier_id) for a in audit] == [("system", old["id"])]


def test_expire_requests_gives_each_request_its_own_event(session, register, payload, events,
                                                          now, today):
    dossier = _start_in(register, payload, today)
    events.calls.clear()

    assert dossiers.expire_requests(session, now + timedelta(days=2), 1, events, limit=1) == 1
    assert dossiers.expire_requests(session, now + timedelta(days=2), 1, events) == 1
    assert dossiers.expire_requests(session, now + timedelta(days=2), 1, events) == 0

    assert [(c["sequence"], c["data"]["request_id"]) for c in events.calls] == [
        (2, dossier["requests"][0]["id"]), (3, dossier["requests"][1]["id"])]
    assert [r["status"] for r in events.calls[-1]["data"]["dossier"]["requests"]] == [
        "expired", "expired"]


def test_erase_dossier_deletes_every_row_of_the_dossier(session, register, call, events, now,
                                                        parent, helpdesk):
    intermediary = {"role": "intermediary", "actor_id": "org-5"}
    other = {"role": "intermediary", "actor_id": "org-6"}
    kept = register(actor=other, registered_by=other)
    erased = register(actor=intermediary, registered_by=intermediary)
    call(dossiers.give_consent, erased["id"], schemas.ConsentInput,
         {"partner": "lop", "policy_version": "2024-05", "method": "paper"}, parent, now)

    data = dossiers.erase_dossier(session, now, erased["id"], helpdesk, events)
    session.commit()

    assert data == {"dossier_id": erased["id"]}
    assert events.last == {"type": contract.DOSSIER_ERASED, "aggregate_id": erased["id"],
                           "sequence": 3, "data": {"dossier_id": erased["id"]}}
    for model in (Dossier, Applicant, Partner, Child, Request, PriorityData, Consent,
                  AccessGrant):
        owners = {row.id if model is Dossier else row.dossier_id
                  for row in session.scalars(select(model))}
        assert owners == {kept["id"]}, model.__tablename__
    audit = session.scalars(select(AuditEntry).where(AuditEntry.dossier_id == erased["id"]))
    assert [(a.operation, a.actor_role) for a in audit] == [("erase_dossier", "helpdesk")]
    with pytest.raises(NotFound):
        dossiers.erase_dossier(session, now, erased["id"], helpdesk, events)


def _rows_about(session, dossier_ids) -> dict:
    """{table name: rows} of every table of the service, for the rows naming one of the dossiers."""
    rows = {}
    for table in metadata.sorted_tables:
        owner = table.c.id if table.name == Dossier.__tablename__ else table.c.get("dossier_id")
        if owner is not None:
            found = sorted(map(repr, session.execute(select(table).where(owner.in_(dossier_ids))).all()))
            if found:
                rows[table.name] = found
    return rows


def test_erase_dossiers_erases_a_batch_and_leaves_one_audit_entry_each(session, register, call, events,
                                                                        now, parent, helpdesk):
    intermediary = {"role": "intermediary", "actor_id": "org-5"}
    kept = register()
    granted = register(actor=intermediary, registered_by=intermediary)  # an access grant, a claim code
    claims.issue_claim_code(session, now, granted["id"])
    consented = register()
    call(dossiers.give_consent, consented["id"], schemas.ConsentInput,
         {"partner": "lop", "policy_version": "2024-05", "method": "paper"}, parent, now)
    call(dossiers.withdraw_consent, consented["id"], schemas.ConsentInput,
         {"partner": "lop", "policy_version": "2024-05", "method": "paper"}, parent, now)
    before = register()
    dossiers.erase_dossier(session, now, before["id"], helpdesk, events)
    session.commit()
    kept_rows = _rows_about(session, [kept["id"]])
    before_rows = _rows_about(session, [before["id"]])
    present = {dossier_id: sum(map(len, _rows_about(session, [dossier_id]).values()))
               for dossier_id in (granted["id"], consented["id"])}
    assert present[granted["id"]] >= 10 and present[consented["id"]] >= 10
    events.calls.clear()

    system = {"role": "system", "actor_id": "registration"}
    erased = dossiers.erase_dossiers(
        session, now + LATER, [granted["id"], consented["id"], "no-such-dossier", granted["id"], before["id"]],
        system, events)
    session.commit()

    assert erased == {granted["id"]: present[granted["id"]], consented["id"]: present[consented["id"]],
                      "no-such-dossier": 0, before["id"]: 0}
    assert [(c["type"], c["aggregate_id"], c["sequence"], c["data"]) for c in events.calls] == [
        (contract.DOSSIER_ERASED, granted["id"], 2, {"dossier_id": granted["id"]}),
        (contract.DOSSIER_ERASED, consented["id"], 4, {"dossier_id": consented["id"]})]
    assert set(_rows_about(session, [granted["id"], consented["id"], "no-such-dossier"])) == {"audit_log"}
    audit = session.scalars(select(AuditEntry).where(
        AuditEntry.dossier_id.in_([granted["id"], consented["id"]])).order_by(AuditEntry.id))
    assert [(a.dossier_id, a.operation, a.actor_role, a.actor_id, a.at) for a in audit] == [
        (granted["id"], "erase_dossier", "system", "registration", now + LATER),
        (consented["id"], "erase_dossier", "system", "registration", now + LATER)]
    assert _rows_about(session, [before["id"]]) == before_rows  # its erasure's entry stays
    assert _rows_about(session, [kept["id"]]) == kept_rows


def test_erase_dossiers_of_unknown_dossiers_changes_nothing(session, register, events, now, state):
    register()
    events.calls.clear()
    unchanged = state()
    assert dossiers.erase_dossiers(session, now, ["no-such-dossier", "no-such-dossier"], dossiers.SYSTEM,
                                   events) == {"no-such-dossier": 0}
    assert state() == unchanged and events.calls == []


def test_unknown_dossiers_and_requests_are_not_found(register, call, now, parent):
    snapshot = register()

    with pytest.raises(NotFound):
        call(dossiers.update_contact, "no-such-dossier", schemas.UpdateContactInput,
             {"preferred_language": "en"}, parent, now)
    with pytest.raises(NotFound):
        call(dossiers.cancel_request, snapshot["id"], schemas.CancelRequestInput,
             {"request_id": "no-such-request"}, parent, now)


def test_every_change_bumps_the_version_and_the_last_activity(session, register, call, events,
                                                              now, parent, helpdesk):
    snapshot = register()
    request = {"request_id": snapshot["requests"][0]["id"]}
    steps = [
        (dossiers.update_contact, schemas.UpdateContactInput, {"preferred_language": "en"},
         parent),
        (dossiers.change_facilities, schemas.ChangeFacilitiesInput,
         {**request, "facility_ids": ["fac-0003"]}, parent),
        (dossiers.give_consent, schemas.ConsentInput,
         {"partner": "lop", "policy_version": "1", "method": "helpdesk"}, helpdesk),
        (dossiers.flag_dossier, schemas.FlagDossierInput,
         {"flag": "mistake", "message": "Check the birth date"}, helpdesk),
        (dossiers.mark_urgent, schemas.MarkUrgentInput, request, helpdesk),
        (dossiers.record_enrollment, schemas.RecordEnrollmentInput,
         {**request, "facility_id": "fac-0003"}, helpdesk),
    ]
    for step, (function, schema, payload, actor) in enumerate(steps, start=1):
        moment = now + step * LATER
        data = call(function, snapshot["id"], schema, payload, actor, moment)
        assert data["dossier"]["last_activity_at"] == moment.isoformat()
        assert events.last["sequence"] == session.get(Dossier, snapshot["id"]).version == step + 1
    assert len(session.scalars(select(AuditEntry)).all()) == len(steps) + 1


@pytest.fixture
def refused_calls(register, payload, keyring, today, parent, helpdesk):
    """Calls the domain refuses after input validation passed, each with the error it raises."""
    snapshot = register()
    dossier_id, request_id = snapshot["id"], snapshot["requests"][0]["id"]
    situation = payload()["situation"]
    del situation["work"]["partner"]

    def data(schema, body):
        return schemas.validate(schema, body, today)

    return [
        (Conflict, dossiers.withdraw_consent, dossier_id,
         data(schemas.ConsentInput, {"partner": "lop", "policy_version": "1", "method": "web"}),
         parent, ()),
        (InvalidInput, dossiers.cancel_request, dossier_id,
         data(schemas.CancelRequestInput, {"request_id": request_id}), helpdesk, ()),
        (Forbidden, dossiers.flag_dossier, dossier_id,
         data(schemas.FlagDossierInput, {"flag": "mistake", "message": "x"}), parent, ()),
        (Conflict, dossiers.record_enrollment, dossier_id,
         data(schemas.RecordEnrollmentInput, {"request_id": request_id, "facility_id": "f-9"}),
         helpdesk, ()),
        (NotFound, dossiers.change_facilities, dossier_id,
         data(schemas.ChangeFacilitiesInput, {"request_id": "r-9", "facility_ids": ["f-1"]}),
         parent, ()),
        (InvalidInput, dossiers.update_situation, dossier_id,
         data(schemas.UpdateSituationInput, {"situation": situation}), parent, (keyring,)),
        (NotFound, dossiers.add_child, "no-such-dossier",
         data(schemas.AddChildInput, payload()["children"][0]), parent, ()),
    ]


def test_a_refused_call_changes_nothing_and_records_nothing(session, events, now, state,
                                                            refused_calls):
    for error, function, dossier_id, data, actor, extra in refused_calls:
        before, recorded = state(), list(events.calls)

        with pytest.raises(error):
            function(session, now, dossier_id, data, actor, events, *extra)

        assert state() == before, function.__name__
        assert events.calls == recorded, function.__name__


class Unchecked:
    def record(self, session, event_type, aggregate_id, sequence, data):
        pass


def test_concurrent_changes_cannot_both_take_the_next_sequence(tmp_path, keyring, now, today,
                                                               payload, parent):
    events = Unchecked()
    engine = create_engine(f"sqlite:///{tmp_path / 'registration.sqlite'}")
    metadata.create_all(engine)
    registration = schemas.validate(schemas.RegisterDossierInput, payload(), today)
    change = schemas.validate(schemas.UpdateContactInput, {"preferred_language": "en"}, today)
    with Session(engine) as session:
        dossier_id = dossiers.register_dossier(session, now, registration, parent, events,
                                               keyring)["dossier"]["id"]
        session.commit()

    with Session(engine) as first, Session(engine) as second:
        dossiers.update_contact(first, now, dossier_id, change, parent, events)
        dossiers.update_contact(second, now, dossier_id, change, parent, events)
        first.commit()
        with pytest.raises(StaleDataError):
            second.commit()
    engine.dispose()
