from dataclasses import replace

from matching.index import CandidateIndex


def ids(candidates):
    return sorted(c.request_id for c in candidates)


def test_a_request_is_found_under_every_facility_it_chose(make_candidate):
    index = CandidateIndex([make_candidate("r-1", facility_ids=("fac-1", "fac-2")),
                            make_candidate("r-2", facility_ids=("fac-2",))])
    assert ids(index.candidates_for("fac-1")) == ["r-1"]
    assert ids(index.candidates_for("fac-2")) == ["r-1", "r-2"]
    assert index.candidates_for("fac-3") == [] and len(index) == 2


def test_urgent_requests_are_found_under_every_facility_once(make_candidate):
    index = CandidateIndex([make_candidate("urgent", facility_ids=("fac-1",), urgent=True),
                            make_candidate("r-2", facility_ids=("fac-2",))])
    assert ids(index.candidates_for("fac-1")) == ["urgent"]
    assert ids(index.candidates_for("fac-2")) == ["r-2", "urgent"]
    assert ids(index.candidates_for("fac-9")) == ["urgent"]


def test_update_replaces_the_facilities_and_urgency(make_candidate):
    index = CandidateIndex()
    first = make_candidate("r-1", facility_ids=("fac-1",), urgent=True)
    index.put(first)
    index.put(replace(first, facility_ids=("fac-2",), urgent=False))
    assert index.candidates_for("fac-1") == [] and ids(index.candidates_for("fac-2")) == ["r-1"]
    assert index.get("r-1").facility_ids == ("fac-2",)


def test_a_request_no_longer_active_leaves_the_index(make_candidate):
    index = CandidateIndex([make_candidate("r-1", facility_ids=("fac-1",), urgent=True)])
    index.put(make_candidate("r-1", facility_ids=("fac-1",), urgent=True, status="enrolled"))
    assert len(index) == 0 and index.candidates_for("fac-1") == [] and index.candidates_for("fac-2") == []


def test_remove_and_remove_dossier(make_candidate):
    index = CandidateIndex([make_candidate("r-1", dossier_id="d-1"), make_candidate("r-2", dossier_id="d-1"),
                            make_candidate("r-3", dossier_id="d-2")])
    assert index.remove("r-3") and not index.remove("r-3")
    assert index.remove_dossier("d-1") == 2
    assert len(index) == 0 and index.candidates_for("fac-0001") == [] and index.remove_dossier("d-1") == 0
