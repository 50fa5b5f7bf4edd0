"""What a dossier looks like outside the service: the event SNAPSHOT and the full RPC view.

The snapshot carries only the derived priority flags (events.md); the view adds the situation as
given, including the decrypted health situation, for the parent and the helpdesk.
"""
from loket.contracts.registration import CONSENT_PARTNERS

from .models import Consent, Dossier, PriorityData

SECONDARY_DIPLOMA = ("secondary", "higher")


def _date(value):
    return value.isoformat()


def _dt(value):
    return value.isoformat() if value is not None else None


def actor_data(actor) -> dict:
    return {"role": actor["role"], "actor_id": actor.get("actor_id")}


def _parents_situation(priority: PriorityData, has_partner: bool) -> list[dict]:
    parents = [{
        "regime": priority.applicant_work_regime,
        "employer": priority.applicant_employer,
        "training": priority.applicant_in_training,
        "job_seeking": priority.applicant_job_seeking,
        "education": priority.applicant_education_level,
    }]
    if has_partner and priority.partner_work_regime is not None:
        parents.append({
            "regime": priority.partner_work_regime,
            "employer": priority.partner_employer,
            "training": bool(priority.partner_in_training),
            "job_seeking": bool(priority.partner_job_seeking),
            "education": priority.partner_education_level,
        })
    return parents


def priority_flags(priority: PriorityData, has_partner: bool) -> dict:
    """Derive the snapshot's priority flags. A partner whose situation is unknown is left out."""
    parents = _parents_situation(priority, has_partner)
    return {
        "dutch_proficiency": priority.dutch_proficiency,
        "dutch_proof_declared": priority.dutch_proof_declared,
        "single_parent": priority.single_parent,
        "income_below_threshold": priority.income_below_threshold,
        "health_or_care_situation": priority.health_or_care_situation,
        "no_secondary_diploma": all(p["education"] not in SECONDARY_DIPLOMA for p in parents),
        # care is needed for work only when no parent is free to care: each one works, trains or
        # looks for work
        "work_or_training_need": all(p["regime"] > 0 or p["training"] or p["job_seeking"]
                                     for p in parents),
        "work_regime_fraction": round(sum(p["regime"] for p in parents) / len(parents), 4),
        "integration_course_complete": priority.integration_course_complete,
    }


def _consent(consent: Consent | None):
    if consent is None:
        return None
    return {"id": consent.id, "given": consent.given, "at": _dt(consent.at),
            "policy_version": consent.policy_version, "method": consent.method}


def current_consent(dossier: Dossier, partner: str) -> Consent | None:
    rows = [c for c in dossier.consents if c.partner == partner]
    return max(rows, key=lambda c: c.dossier_version) if rows else None


def snapshot(dossier: Dossier) -> dict:
    """The SNAPSHOT of events.md, JSON-ready. Never contains the health situation text."""
    applicant, partner = dossier.applicant, dossier.partner
    return {
        "id": dossier.id,
        "registered_at": _dt(dossier.registered_at),
        "last_activity_at": _dt(dossier.last_activity_at),
        "registered_by": {"role": dossier.registered_by_role,
                          "actor_id": dossier.registered_by_actor_id},
        "preferred_language": dossier.preferred_language,
        "restricted": dossier.restricted,
        "applicant": {
            "last_name": applicant.last_name, "first_name": applicant.first_name,
            "birth_date": _date(applicant.birth_date), "gender": applicant.gender,
            "email": applicant.email, "phone": applicant.phone,
            "address": {"street": applicant.street, "house_number": applicant.house_number,
                        "postal_code": applicant.postal_code,
                        "municipality": applicant.municipality},
        },
        "partner": None if partner is None else {
            "last_name": partner.last_name, "first_name": partner.first_name,
            "birth_date": _date(partner.birth_date), "gender": partner.gender,
            "email": partner.email, "phone": partner.phone,
        },
        "children": [{
            "id": child.id, "last_name": child.last_name, "first_name": child.first_name,
            "birth_date": _date(child.birth_date), "gender": child.gender,
            "foster_child": child.foster_child,
            "sibling_facility_ids": list(child.sibling_facility_ids),
        } for child in dossier.children],
        "requests": [{
            "id": request.id, "child_id": request.child_id,
            "desired_start_date": _date(request.desired_start_date),
            "care_plan": dict(request.care_plan), "facility_ids": list(request.facility_ids),
            "status": request.status, "urgent": request.urgent,
            "enrolled_facility_id": request.enrolled_facility_id,
            "registered_at": _dt(request.registered_at),
        } for request in dossier.requests],
        "priority": priority_flags(dossier.priority, partner is not None),
        "consents": {p: _consent(current_consent(dossier, p)) for p in CONSENT_PARTNERS},
    }


def situation_view(priority: PriorityData, health_situation: str | None) -> dict:
    """The situation in the shape update_situation takes, so a client can edit and send it back."""
    partner_known = priority.partner_work_regime is not None
    return {
        "family": {"single_parent": priority.single_parent},
        "financial": {"income_below_threshold": priority.income_below_threshold,
                      "income_band": priority.income_band},
        "work": {
            "applicant": {"regime": priority.applicant_work_regime,
                          "employer": priority.applicant_employer,
                          "training": priority.applicant_in_training,
                          "job_seeking": priority.applicant_job_seeking},
            "partner": {"regime": priority.partner_work_regime,
                        "employer": priority.partner_employer,
                        "training": priority.partner_in_training,
                        "job_seeking": priority.partner_job_seeking} if partner_known else None,
            "integration_course_complete": priority.integration_course_complete,
        },
        "education": {"applicant": priority.applicant_education_level,
                      "partner": priority.partner_education_level},
        "health": {"care_situation": priority.health_or_care_situation,
                   "detail": health_situation},
        "dutch": {"proficiency": priority.dutch_proficiency,
                  "proof_declared": priority.dutch_proof_declared},
    }


def dossier_view(dossier: Dossier, health_situation: str | None) -> dict:
    """The snapshot plus what only the dossier's own readers see."""
    view = snapshot(dossier)
    view.update({
        "version": dossier.version,
        "flagged": dossier.flagged,
        "flag": dossier.flag,
        "flag_message": dossier.flag_message,
        "cancel_reasons": {r.id: r.cancel_reason for r in dossier.requests if r.cancel_reason},
        "situation": situation_view(dossier.priority, health_situation),
        "consent_history": [{
            "partner": c.partner, **_consent(c), "by": {"role": c.by_role,
                                                         "actor_id": c.by_actor_id},
        } for c in dossier.consents],
    })
    return view
