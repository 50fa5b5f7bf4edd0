import json
import stat

import pytest

from consent_export.transfers import PUSH, Transfer
from consent_export.transport import FolderTransport, TransientPartnerError


def transfer(key="evt-1:lop", payload=None):
    payload = payload or {"dossier_id": "dos-1", "applicant": {"email": "an@example.org"}}
    return Transfer(idempotency_key=key, partner="lop", dossier_id="dos-1", kind=PUSH,
                    payload=payload, field_names=("applicant.email", "dossier_id"),
                    consent_id="con-1", payload_hash="h")


def test_each_transfer_is_one_json_file_named_by_its_idempotency_key(tmp_path):
    delivery = FolderTransport(tmp_path).send(transfer())

    written = tmp_path / "lop" / "evt-1:lop.json"
    assert delivery.answer == written.name
    assert json.loads(written.read_text()) == {
        "idempotency_key": "evt-1:lop", "kind": "push", "dossier_id": "dos-1",
        "payload": {"dossier_id": "dos-1", "applicant": {"email": "an@example.org"}},
    }
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert [path.name for path in (tmp_path / "lop").iterdir()] == [written.name]


def test_a_repeat_replaces_its_own_file(tmp_path):
    transport = FolderTransport(tmp_path)
    transport.send(transfer())
    transport.send(transfer())

    assert len(list((tmp_path / "lop").iterdir())) == 1


def test_a_key_that_could_escape_the_folder_is_refused(tmp_path):
    with pytest.raises(ValueError):
        FolderTransport(tmp_path).send(transfer(key="../../etc/evt"))


def test_a_failed_write_is_transient_and_leaves_no_temporary_file(tmp_path):
    # A directory where the file should go makes the final rename fail, even for root.
    blocker = tmp_path / "lop" / "evt-1:lop.json"
    (blocker / "inside").mkdir(parents=True)

    with pytest.raises(TransientPartnerError):
        FolderTransport(tmp_path).send(transfer())

    assert [path.name for path in (tmp_path / "lop").iterdir()] == [blocker.name]
