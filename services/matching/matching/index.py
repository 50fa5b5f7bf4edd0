"""In-memory index of the active requests, so a ranking reads only the candidates of one facility.

A request is filed under every facility it chose, and under "urgent" when it is urgent (P2: every
facility may offer it a place). Only active requests are kept: putting a request in another
status removes it. All operations are O(number of facilities chosen), at most 5.
"""
from typing import Iterator

from matching.model import Candidate


class CandidateIndex:
    def __init__(self, candidates=()):
        self._by_request: dict[str, Candidate] = {}
        self._by_facility: dict[str, dict[str, Candidate]] = {}
        self._by_dossier: dict[str, set[str]] = {}
        self._urgent: dict[str, Candidate] = {}
        for candidate in candidates:
            self.put(candidate)

    def __len__(self) -> int:
        return len(self._by_request)

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self._by_request.values())

    def get(self, request_id: str) -> Candidate | None:
        return self._by_request.get(request_id)

    def put(self, candidate: Candidate):
        """Add the request, or replace what was known of it; a request no longer active is dropped."""
        self.remove(candidate.request_id)
        if candidate.status != "active":
            return
        request_id = candidate.request_id
        self._by_request[request_id] = candidate
        self._by_dossier.setdefault(candidate.dossier_id, set()).add(request_id)
        for facility_id in candidate.facility_ids:
            self._by_facility.setdefault(facility_id, {})[request_id] = candidate
        if candidate.urgent:
            self._urgent[request_id] = candidate

    def remove(self, request_id: str) -> bool:
        candidate = self._by_request.pop(request_id, None)
        if candidate is None:
            return False
        requests = self._by_dossier[candidate.dossier_id]
        requests.discard(request_id)
        if not requests:
            del self._by_dossier[candidate.dossier_id]
        for facility_id in candidate.facility_ids:
            chosen = self._by_facility[facility_id]
            del chosen[request_id]
            if not chosen:
                del self._by_facility[facility_id]
        self._urgent.pop(request_id, None)
        return True

    def remove_dossier(self, dossier_id: str) -> int:
        """Drop every request of a dossier (dossier erased); returns how many were dropped."""
        request_ids = list(self._by_dossier.get(dossier_id, ()))
        for request_id in request_ids:
            self.remove(request_id)
        return len(request_ids)

    def candidates_for(self, facility_id: str) -> list[Candidate]:
        """The requests that chose the facility, then the urgent ones that did not; each once."""
        chosen = self._by_facility.get(facility_id, {})
        return [*chosen.values(), *(c for rid, c in self._urgent.items() if rid not in chosen)]
