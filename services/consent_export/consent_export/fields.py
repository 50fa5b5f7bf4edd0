"""The one place that says which dossier fields may leave for each partner (P10, P11, P13).

A payload is built by copying the allowed paths out of the dossier SNAPSHOT (events.md) and
nothing else. It is an allow-list on purpose: a field added to the snapshot later stays home
until someone adds it here, and a test proves no other field can leave.
"""
from collections.abc import Mapping, Sequence
from types import MappingProxyType

KIND_EN_GEZIN = "kind_en_gezin"
LOP = "lop"
PARTNERS = (KIND_EN_GEZIN, LOP)

# Paths into the SNAPSHOT; "children[]" walks every child. The second parent ("partner.*") is
# never sent to Kind en Gezin (P10); LOP gets the partner's email only when a partner exists.
ALLOWED_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    KIND_EN_GEZIN: (
        "applicant.last_name",
        "applicant.first_name",
        "applicant.birth_date",
        "applicant.gender",
        "applicant.email",
        "applicant.phone",
        "applicant.address.street",
        "applicant.address.house_number",
        "applicant.address.postal_code",
        "applicant.address.municipality",
        "children[].last_name",
        "children[].first_name",
        "children[].birth_date",
    ),
    LOP: (
        "applicant.email",
        "partner.email",
        "children[].birth_date",
    ),
})

# References, not personal data: the partner needs them to match an update or a delete to what
# it already holds. The snapshot's "id" is sent as "dossier_id".
DOSSIER_REFERENCE = "dossier_id"
CHILD_REFERENCE = "children[].id"

_SCALARS = (str, int, float, bool, type(None))


def consented(partner: str, snapshot: Mapping) -> bool:
    """True only when the dossier holds a consent record for `partner` that is given."""
    _check_partner(partner)
    consent = (snapshot.get("consents") or {}).get(partner)
    return bool(consent) and consent.get("given") is True


def consent_id(partner: str, snapshot: Mapping) -> str | None:
    """Id of the dossier's current consent record for `partner` (given or withdrawn), if any."""
    _check_partner(partner)
    consent = (snapshot.get("consents") or {}).get(partner)
    return consent.get("id") if consent else None


def build_payload(partner: str, snapshot: Mapping) -> dict:
    """The only way a partner payload is built: the allowed paths of `snapshot`, plus references.

    A key missing from the snapshot is left out and a null group (no partner) sends nothing. A
    non-scalar where a value is expected raises ValueError, so no nested data can ride along.
    """
    _check_partner(partner)
    payload = {DOSSIER_REFERENCE: _scalar(snapshot["id"], "id")}
    payload.update(_copy(_TREES[partner], snapshot, ""))
    return payload


def field_names(payload: Mapping) -> tuple[str, ...]:
    """Dotted names of every value in `payload` (lists as "name[]"): for the transfer log."""
    return tuple(sorted(set(_names(payload, ""))))


def _check_partner(partner: str) -> None:
    if partner not in ALLOWED_FIELDS:
        raise ValueError(f"unknown partner {partner!r}")


def _tree(paths: Sequence[str]) -> dict:
    tree: dict = {}
    for path in paths:
        *groups, leaf = path.split(".")
        node = tree
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = None
    return tree


_TREES = {
    partner: _tree((*paths, CHILD_REFERENCE)) for partner, paths in ALLOWED_FIELDS.items()
}


def _copy(tree: Mapping, source: Mapping, prefix: str) -> dict:
    copied = {}
    for key, subtree in tree.items():
        name = key.removesuffix("[]")
        path = prefix + name
        if name not in source:
            continue
        value = source[name]
        if subtree is None:
            copied[name] = _scalar(value, path)
        elif value is None:
            continue
        elif key.endswith("[]"):
            if not isinstance(value, list):
                raise ValueError(f"snapshot field {path} is not a list")
            copied[name] = [_copy(subtree, _group(item, path), path + "[].") for item in value]
        else:
            copied[name] = _copy(subtree, _group(value, path), path + ".")
    return copied


def _group(value, path: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ValueError(f"snapshot field {path} is not an object")
    return value


def _scalar(value, path: str):
    if not isinstance(value, _SCALARS):
        raise ValueError(f"snapshot field {path} is not a single value")
    return value


def _names(value, prefix: str):
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _names(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for item in value:
            yield from _names(item, prefix + "[]")
    else:
        yield prefix
