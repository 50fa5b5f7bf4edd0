from consent_export.fields import KIND_EN_GEZIN, LOP, build_payload
from consent_export.transfers import (
    DELETE,
    PUSH,
    UPDATE,
    Exported,
    payload_hash,
    transfers_for_event,
)


def given_to(consent, *partners):
    return {partner: (consent(record_id=f"con-{partner}") if partner in partners else None)
            for partner in (KIND_EN_GEZIN, LOP)}


def test_consent_given_pushes_the_full_payload_to_that_partner_only(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, KIND_EN_GEZIN))
    event = envelope("registration.consent_given", {"dossier": dossier, "partner": KIND_EN_GEZIN})

    [transfer] = transfers_for_event(event, {})

    assert transfer.kind == PUSH
    assert transfer.partner == KIND_EN_GEZIN
    assert transfer.idempotency_key == f"{event['id']}:kind_en_gezin"
    assert transfer.dossier_id == "dos-1"
    assert transfer.payload == build_payload(KIND_EN_GEZIN, dossier)
    assert transfer.payload_hash == payload_hash(transfer.payload)
    assert transfer.consent_id == "con-kind_en_gezin"
    assert "applicant.email" in transfer.field_names
    assert "an@example.org" not in transfer.field_names
    assert transfer.exported == Exported(transfer.payload_hash, "con-kind_en_gezin")


def test_refused_consent_sends_nothing(snapshot, envelope):
    event = envelope("registration.dossier_registered", {"dossier": snapshot()})

    assert transfers_for_event(event, {}) == []


def exported_after(event):
    return {t.partner: t.exported for t in transfers_for_event(event, {})}


def test_unchanged_exported_fields_send_no_update(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, KIND_EN_GEZIN, LOP))
    held = exported_after(envelope("registration.consent_given",
                                   {"dossier": dossier, "partner": LOP}))
    dossier["priority"]["single_parent"] = True
    dossier["requests"][0]["facility_ids"] = ["fac-0002"]

    event = envelope("registration.facilities_changed", {"dossier": dossier, "request_id": "req-1"})

    assert transfers_for_event(event, held) == []


def test_a_changed_applicant_email_updates_both_partners(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, KIND_EN_GEZIN, LOP))
    held = exported_after(envelope("registration.consent_given",
                                   {"dossier": dossier, "partner": LOP}))
    dossier["applicant"]["email"] = "an.new@example.org"

    transfers = transfers_for_event(
        envelope("registration.dossier_updated", {"dossier": dossier, "changed_sections": ["contact"]}),
        held,
    )

    assert [(t.partner, t.kind) for t in transfers] == [(KIND_EN_GEZIN, UPDATE), (LOP, UPDATE)]
    assert all(t.payload["applicant"]["email"] == "an.new@example.org" for t in transfers)


def test_a_changed_partner_email_updates_lop_only(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, KIND_EN_GEZIN, LOP))
    held = exported_after(envelope("registration.consent_given",
                                   {"dossier": dossier, "partner": LOP}))
    dossier["partner"]["email"] = "bart.new@example.org"

    transfers = transfers_for_event(
        envelope("registration.dossier_updated", {"dossier": dossier, "changed_sections": ["partner"]}),
        held,
    )

    assert [(t.partner, t.kind) for t in transfers] == [(LOP, UPDATE)]
    assert transfers[0].payload["partner"] == {"email": "bart.new@example.org"}


def test_an_added_child_updates_every_consented_partner(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, KIND_EN_GEZIN, LOP))
    held = exported_after(envelope("registration.consent_given",
                                   {"dossier": dossier, "partner": LOP}))
    dossier["children"].append({"id": "chi-2", "last_name": "Janssens", "first_name": "Cas",
                                "birth_date": "2026-05-01", "gender": "m", "foster_child": False,
                                "sibling_facility_ids": []})

    transfers = transfers_for_event(
        envelope("registration.child_added",
                 {"dossier": dossier, "child_id": "chi-2", "request_id": "req-2"}),
        held,
    )

    assert [(t.partner, t.kind) for t in transfers] == [(KIND_EN_GEZIN, UPDATE), (LOP, UPDATE)]
    assert [child["id"] for child in transfers[1].payload["children"]] == ["chi-1", "chi-2"]


def test_withdrawal_tells_that_partner_to_delete(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, KIND_EN_GEZIN, LOP))
    held = exported_after(envelope("registration.consent_given",
                                   {"dossier": dossier, "partner": LOP}))
    dossier["consents"][LOP] = consent(given=False, record_id="con-lop-withdrawn")

    event = envelope("registration.consent_withdrawn", {"dossier": dossier, "partner": LOP})
    [transfer] = transfers_for_event(event, held)

    assert transfer.kind == DELETE
    assert transfer.partner == LOP
    assert transfer.payload == {"dossier_id": "dos-1"}
    assert transfer.field_names == ("dossier_id",)
    assert transfer.consent_id == "con-lop-withdrawn"
    assert transfer.exported is None


def test_withdrawal_wins_over_a_snapshot_that_still_shows_consent(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, LOP))
    held = exported_after(envelope("registration.consent_given",
                                   {"dossier": dossier, "partner": LOP}))

    event = envelope("registration.consent_withdrawn", {"dossier": dossier, "partner": LOP})

    assert [t.kind for t in transfers_for_event(event, held)] == [DELETE]
    assert transfers_for_event(event, {}) == []


def test_withdrawal_before_anything_was_sent_sends_nothing(snapshot, consent, envelope):
    dossier = snapshot(consents={KIND_EN_GEZIN: consent(given=False), LOP: None})
    event = envelope("registration.consent_withdrawn", {"dossier": dossier, "partner": KIND_EN_GEZIN})

    assert transfers_for_event(event, {}) == []


def test_nothing_is_sent_after_a_withdrawal(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, KIND_EN_GEZIN))
    held = {}
    dossier_events = [
        ("registration.consent_given", {"partner": KIND_EN_GEZIN}),
        ("registration.consent_withdrawn", {"partner": KIND_EN_GEZIN}),
        ("registration.dossier_updated", {"changed_sections": ["contact"]}),
    ]
    kinds = []
    for event_type, data in dossier_events:
        if event_type == "registration.consent_withdrawn":
            dossier["consents"][KIND_EN_GEZIN] = consent(given=False)
        if event_type == "registration.dossier_updated":
            dossier["applicant"]["phone"] = "+32470999999"
        for transfer in transfers_for_event(envelope(event_type, {"dossier": dossier, **data}), held):
            kinds.append(transfer.kind)
            held.pop(transfer.partner, None)
            if transfer.exported:
                held[transfer.partner] = transfer.exported

    assert kinds == [PUSH, DELETE]


def test_erasure_tells_every_partner_holding_data_to_delete(envelope):
    event = envelope("registration.dossier_erased", {"dossier_id": "dos-1"})
    held = {LOP: Exported("hash", "con-lop")}

    [transfer] = transfers_for_event(event, held)

    assert (transfer.partner, transfer.kind, transfer.payload) == (LOP, DELETE, {"dossier_id": "dos-1"})
    assert transfer.consent_id == "con-lop"
    assert transfer.idempotency_key == f"{event['id']}:lop"
    assert transfers_for_event(event, {}) == []


def test_events_of_other_producers_send_nothing(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, KIND_EN_GEZIN, LOP))
    event = envelope("matching.offer_made", {"dossier": dossier})

    assert transfers_for_event(event, {}) == []


def test_a_restricted_dossier_gets_no_push_and_no_update(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, KIND_EN_GEZIN, LOP))
    held = {LOP: exported_after(envelope("registration.consent_given",
                                         {"dossier": dossier, "partner": LOP}))[LOP]}
    dossier["restricted"] = True
    dossier["applicant"]["email"] = "an.new@example.org"

    event = envelope("registration.dossier_updated", {"dossier": dossier, "changed_sections": ["contact"]})

    assert transfers_for_event(event, held) == []


def test_lifting_the_restriction_sends_what_changed_meanwhile(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, LOP))
    held = exported_after(envelope("registration.consent_given", {"dossier": dossier, "partner": LOP}))
    dossier["applicant"]["email"] = "an.new@example.org"

    event = envelope("registration.dossier_updated",
                     {"dossier": dossier, "changed_sections": ["restriction"]})

    assert [(t.partner, t.kind) for t in transfers_for_event(event, held)] == [(LOP, UPDATE)]


def test_a_restricted_dossier_still_gets_its_delete(snapshot, consent, envelope):
    dossier = snapshot(consents=given_to(consent, LOP), restricted=True)
    held = {LOP: Exported("hash", "con-lop")}
    dossier["consents"][LOP] = consent(given=False, record_id="con-lop-withdrawn")

    event = envelope("registration.consent_withdrawn", {"dossier": dossier, "partner": LOP})

    assert [(t.partner, t.kind) for t in transfers_for_event(event, held)] == [(LOP, DELETE)]


def test_registrations_other_messages_send_nothing(envelope):
    receipt = envelope("registration.erasure_receipt", {"dossier_id": "dos-1", "run_id": "run-1",
                                                        "service": "registration", "erased_rows": 9})

    assert transfers_for_event(receipt, {LOP: Exported("hash", "con-lop")}) == []
