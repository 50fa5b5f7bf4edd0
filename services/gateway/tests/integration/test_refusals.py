"""Refused dossier operations through the gateway: 403 when the caller may read the dossier and is refused
the operation, 404 when they may not even read it, exactly as for a dossier that does not exist. The
registration service decides; every refusal is in the dossier's access log (P22)."""
from datetime import date

from registration.samples import sample_registration

SITUATION = sample_registration(date.today(), 0)["situation"]
CONTACT = ("PATCH", "/contact", {"preferred_language": "fr"})
SITUATION_CHANGE = ("PUT", "/situation", {"situation": SITUATION})
FLAG = ("POST", "/flags", {"flag": "mistake", "message": "The birth date looks wrong."})
URGENCY = ("POST", "/requests/{request_id}/urgency", None)
CANCELLATION = ("POST", "/requests/{request_id}/cancellation", {"reason": "Registered twice."})
EXPORT = ("GET", "/export", None)
ACCESS_LOG = ("GET", "/access-log", None)
ERASURE = ("DELETE", "", None)
READ = ("GET", "", None)

# who, which dossier (the parent's, which chose fac-0001, or the intermediary's), what, expected status
CASES = [
    ("owner", "parents", FLAG, 403),
    ("owner", "parents", URGENCY, 403),
    ("stranger", "parents", READ, 404),
    ("stranger", "parents", CONTACT, 404),
    ("stranger", "parents", FLAG, 404),
    ("stranger", "parents", ACCESS_LOG, 404),
    ("stranger", "parents", ERASURE, 404),
    ("chosen_manager", "parents", READ, 200),
    ("chosen_manager", "parents", CONTACT, 403),  # chose my facility, but I did not register it (P20)
    ("chosen_manager", "parents", SITUATION_CHANGE, 403),
    ("chosen_manager", "parents", CANCELLATION, 403),
    ("chosen_manager", "parents", EXPORT, 403),
    ("chosen_manager", "parents", ERASURE, 403),
    ("other_manager", "parents", READ, 404),
    ("other_manager", "parents", CONTACT, 404),
    ("other_manager", "parents", EXPORT, 404),
    ("intermediary", "intermediarys", CONTACT, 200),
    ("intermediary", "intermediarys", URGENCY, 403),  # only the helpdesk marks urgent
    ("intermediary", "intermediarys", FLAG, 403),
    ("intermediary", "intermediarys", CANCELLATION, 403),
    ("intermediary", "intermediarys", ERASURE, 403),
    ("intermediary", "parents", CONTACT, 404),
    ("colleague", "intermediarys", CONTACT, 404),  # same organisation, never helped this parent (P19)
    ("helpdesk", "unknown", CONTACT, 404),
    ("stranger", "unknown", CONTACT, 404),
]


def test_refusals_are_403_for_a_reader_and_404_for_anyone_else(api, staff, dossier_body):
    callers = {
        "owner": api.parent(), "stranger": api.parent(), "helpdesk": staff("helpdesk"),
        "chosen_manager": staff("facility_manager", facility_ids=["fac-0001"]),
        "other_manager": staff("facility_manager", facility_ids=["fac-0009"]),
        "intermediary": staff("intermediary", organisation_id="org-7"),
        "colleague": staff("intermediary", organisation_id="org-7"),
    }
    dossiers = {
        "parents": api.post("/dossiers", callers["owner"], json=dossier_body(0)).json()["dossier"],
        "intermediarys": api.post("/dossiers", callers["intermediary"], json=dossier_body(3)).json()["dossier"],
        "unknown": {"id": "00000000-0000-0000-0000-000000000000", "requests": [{"id": "no-such-request"}]},
    }
    answers = {}
    for who, which, (method, path, body), expected in CASES:
        dossier = dossiers[which]
        url = f"/dossiers/{dossier['id']}" + path.format(request_id=dossier["requests"][0]["id"])
        response = api.request(method, url, callers[who], json=body)
        answers[(who, which, method, path)] = (response.status_code, expected)
        if response.status_code in (403, 404):
            assert set(response.json()) == {"error", "message"}
            assert dossier["id"] not in response.json()["message"]
    assert {case: got for case, (got, expected) in answers.items()} == \
        {case: expected for case, (got, expected) in answers.items()}

    log = api.get(f"/dossiers/{dossiers['parents']['id']}/access-log", callers["owner"]).json()["entries"]
    refused = {(entry["role"], entry["operation"]) for entry in log if entry["outcome"] == "refused"}
    assert {("parent", "update_contact"), ("facility_manager", "update_contact"),
            ("facility_manager", "erase"), ("intermediary", "update_contact")} <= refused
