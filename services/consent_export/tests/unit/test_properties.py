"""Generated dossiers: no field outside the policy can ever leave, and only with consent."""
import json
import string

from hypothesis import given
from hypothesis import strategies as st

from consent_export.fields import KIND_EN_GEZIN, LOP, build_payload, field_names
from consent_export.transfers import DELETE, Exported, transfers_for_event

# The policy as written in P10 and P11, stated here independently of consent_export.fields.
KIND_EN_GEZIN_FIELDS = {
    "dossier_id",
    "applicant.last_name", "applicant.first_name", "applicant.birth_date", "applicant.gender",
    "applicant.email", "applicant.phone",
    "applicant.address.street", "applicant.address.house_number",
    "applicant.address.postal_code", "applicant.address.municipality",
    "children[].id", "children[].last_name", "children[].first_name", "children[].birth_date",
}
LOP_FIELDS = {"dossier_id", "applicant.email", "partner.email", "children[].id",
              "children[].birth_date"}

EVENT_TYPES = [
    "registration.dossier_registered", "registration.dossier_updated",
    "registration.child_added", "registration.facilities_changed",
    "registration.consent_given", "registration.consent_withdrawn",
    "registration.request_cancelled", "registration.request_marked_urgent",
    "registration.dossier_flagged", "registration.request_enrolled",
    "registration.request_expired",
]

text = st.text(max_size=12)
dates = st.dates().map(lambda day: day.isoformat())
genders = st.sampled_from(["f", "m", "x"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
# Keys no contract knows of: a field added to the snapshot tomorrow must not leave either.
extra_keys = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=10)


def with_extras(**fields):
    """A dict strategy with the given fields plus up to three random extra keys."""
    return st.tuples(st.dictionaries(extra_keys, json_values, max_size=3),
                     st.fixed_dictionaries(fields)).map(lambda pair: {**pair[0], **pair[1]})


def marked(field):
    # Every value of the partner (second parent) carries a marker we can look for afterwards.
    return st.uuids().map(lambda uuid: f"PARTNER-{field}-{uuid}")


consents = st.none() | with_extras(id=st.uuids().map(str), given=st.booleans(), at=text,
                                   policy_version=text, method=text)
snapshots = with_extras(
    id=st.uuids().map(str),
    registered_at=text,
    preferred_language=st.sampled_from(["nl", "fr", "en"]),
    restricted=st.booleans(),
    applicant=with_extras(
        last_name=text, first_name=text, birth_date=dates, gender=genders, email=text,
        phone=text,
        address=with_extras(street=text, house_number=text, postal_code=text,
                            municipality=text),
    ),
    partner=st.none() | with_extras(**{
        name: marked(name)
        for name in ("last_name", "first_name", "birth_date", "gender", "email", "phone")
    }),
    children=st.lists(with_extras(
        id=st.uuids().map(str), last_name=text, first_name=st.none() | text, birth_date=dates,
        gender=st.none() | genders, foster_child=st.booleans(),
        sibling_facility_ids=st.lists(text, max_size=2),
    ), min_size=1, max_size=4),
    requests=st.lists(with_extras(id=text, child_id=text, facility_ids=st.lists(text)),
                      max_size=3),
    priority=with_extras(single_parent=st.booleans(), health_or_care_situation=st.booleans(),
                         work_regime_fraction=st.floats(0, 1)),
    consents=with_extras(kind_en_gezin=consents, lop=consents),
)


def values_at(document, path):
    """Values under a dotted path; "name[]" walks a list."""
    values = [document]
    for part in path.split("."):
        key = part.removesuffix("[]")
        values = [value[key] for value in values]
        if part.endswith("[]"):
            values = [item for value in values for item in value]
    return values


@given(snapshots)
def test_kind_en_gezin_payload_has_exactly_the_policy_fields(snapshot):
    payload = build_payload(KIND_EN_GEZIN, snapshot)

    assert set(field_names(payload)) == KIND_EN_GEZIN_FIELDS


@given(snapshots)
def test_lop_payload_has_exactly_the_policy_fields(snapshot):
    payload = build_payload(LOP, snapshot)

    expected = LOP_FIELDS if snapshot["partner"] is not None else LOP_FIELDS - {"partner.email"}
    assert set(field_names(payload)) == expected


@given(snapshots)
def test_no_partner_data_ever_reaches_kind_en_gezin(snapshot):
    sent = json.dumps(build_payload(KIND_EN_GEZIN, snapshot))

    assert "PARTNER-" not in sent
    assert "partner" not in build_payload(KIND_EN_GEZIN, snapshot)


@given(snapshots)
def test_lop_gets_only_the_partner_email(snapshot):
    payload = build_payload(LOP, snapshot)

    sent = [value for name in field_names(payload) for value in values_at(payload, name)]
    partner_values = [value for value in sent if str(value).startswith("PARTNER-")]
    assert partner_values == ([snapshot["partner"]["email"]] if snapshot["partner"] else [])


@given(snapshots, st.sampled_from([KIND_EN_GEZIN, LOP]))
def test_every_sent_value_is_the_snapshot_value(snapshot, partner):
    payload = build_payload(partner, snapshot)

    for name in field_names(payload):
        source = "id" if name == "dossier_id" else name
        assert values_at(payload, name) == values_at(snapshot, source)


def _with_consents(snapshot, given):
    """`given` True/False sets both consent records; None removes them."""
    consents = dict(snapshot["consents"])
    for partner in (KIND_EN_GEZIN, LOP):
        record = consents[partner] or {"id": f"con-{partner}"}
        consents[partner] = None if given is None else {**record, "given": given}
    return {**snapshot, "consents": consents}


refusals = st.sampled_from([None, False])


@given(snapshots, refusals, st.sampled_from(EVENT_TYPES), st.sampled_from([KIND_EN_GEZIN, LOP]))
def test_without_consent_nothing_is_ever_sent(snapshot, refusal, event_type, partner):
    envelope = _envelope(event_type, _with_consents(snapshot, refusal), partner)

    assert transfers_for_event(envelope, {}) == []


@given(snapshots, refusals, st.sampled_from(EVENT_TYPES), st.sampled_from([KIND_EN_GEZIN, LOP]))
def test_a_partner_holding_data_without_consent_is_only_told_to_delete(
        snapshot, refusal, event_type, partner):
    envelope = _envelope(event_type, _with_consents(snapshot, refusal), partner)

    transfers = transfers_for_event(envelope, {partner: Exported("old-hash", "con-old")})

    assert [(t.partner, t.kind, t.payload) for t in transfers] == [
        (partner, DELETE, {"dossier_id": snapshot["id"]})
    ]


@given(snapshots, st.sampled_from(sorted(set(EVENT_TYPES) - {"registration.consent_withdrawn"})),
       json_values, json_values)
def test_unchanged_exported_fields_cause_no_update(snapshot, event_type, noise, other_noise):
    snapshot = {**_with_consents(snapshot, True), "restricted": False}
    exported = {
        partner: Exported(transfer.payload_hash, transfer.consent_id)
        for partner, transfer in _pushed(snapshot).items()
    }
    # Everything outside the exported fields changes: requests, priority, unknown keys, ...
    changed = {**snapshot, "requests": noise, "priority": other_noise,
               "applicant": {**snapshot["applicant"], "extra_field": noise},
               "children": [{**child, "gender": "x", "foster_child": not child["foster_child"]}
                            for child in snapshot["children"]]}
    if snapshot["partner"] is not None:
        changed["partner"] = {**snapshot["partner"], "phone": "other", "last_name": "other"}

    assert transfers_for_event(_envelope(event_type, changed, KIND_EN_GEZIN), exported) == []


def _pushed(snapshot):
    envelope = _envelope("registration.consent_given", snapshot, KIND_EN_GEZIN)
    return {transfer.partner: transfer for transfer in transfers_for_event(envelope, {})}


def _envelope(event_type, snapshot, partner):
    data = {"dossier": snapshot}
    if event_type in ("registration.consent_given", "registration.consent_withdrawn"):
        data["partner"] = partner
    return {"id": "evt-1", "type": event_type, "version": 1, "aggregate_id": snapshot["id"],
            "data": data}
