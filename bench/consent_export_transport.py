"""Transfers per second from the consent-export transports to a local partner.

A ThreadingHTTPServer on 127.0.0.1 plays the partner (HTTP/1.1 keep-alive, answers 201 after
reading the body). Transfers are real ones: built by transfers_for_event from generated
dossiers with consent to both partners. Measured one after the other, as one worker sends them:
  - HttpPartnerTransport (one requests.Session, keep-alive): the production path;
  - a new HttpPartnerTransport per transfer (new connection each time), for comparison;
  - the keep-alive session against a partner server without TCP_NODELAY (300 transfers), to
    show what such a partner costs;
  - FolderTransport (the embedded default: one fsynced file per transfer).

Run: /work/main/.venv/bin/python bench/consent_export_transport.py [--transfers 3000]
"""
import argparse
import contextlib
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from consent_export.transfers import transfers_for_event
from consent_export.transport import FolderTransport, HttpPartnerTransport

TARGET_PER_SECOND = 200


class _NaglePartner(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.connections.add(self.client_address)
        body = b'{"ok": true}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class _Partner(_NaglePartner):
    # Like nginx's default tcp_nodelay: without it the answer's body waits for the client's
    # delayed ACK of its headers (Nagle), about 40 ms per transfer on a kept-alive connection.
    disable_nagle_algorithm = True


def dossier(number):
    consent = {"id": f"con-{number}", "given": True, "at": "2025-01-02T09:00:00+00:00",
               "policy_version": "2024-1", "method": "web"}
    return {
        "id": f"dos-{number}",
        "applicant": {"last_name": "Peeters", "first_name": "An", "birth_date": "1990-04-01",
                      "gender": "f", "email": f"parent{number}@example.org",
                      "phone": "+32470000000",
                      "address": {"street": "Kerkstraat", "house_number": str(number),
                                  "postal_code": "1000", "municipality": "Brussel"}},
        "partner": {"last_name": "Janssens", "first_name": "Bart", "birth_date": "1989-02-03",
                    "gender": "m", "email": f"partner{number}@example.org", "phone": "+32"},
        "children": [{"id": f"chi-{number}-{child}", "last_name": "Janssens", "first_name": None,
                      "birth_date": "2025-09-01", "gender": None, "foster_child": False,
                      "sibling_facility_ids": []} for child in range(2)],
        "requests": [], "priority": {},
        "consents": {"kind_en_gezin": consent, "lop": consent},
    }


def transfers(count):
    made = []
    for number in range(count):
        envelope = {"id": str(uuid.uuid4()), "type": "registration.consent_given",
                    "data": {"dossier": dossier(number), "partner": "lop"}}
        made.extend(transfers_for_event(envelope, {}))
    return made[:count]


@contextlib.contextmanager
def partner_server(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.connections = set()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.connections
    finally:
        server.shutdown()
        server.server_close()


def rate(send, batch):
    started = time.perf_counter()
    for transfer in batch:
        send(transfer)
    return len(batch) / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfers", type=int, default=3000)
    arguments = parser.parse_args()
    batch = transfers(arguments.transfers)
    warmup = batch[:100]

    with partner_server(_Partner) as (url, connections):
        with HttpPartnerTransport(url, token="bench", timeout=5) as transport:
            rate(transport.send, warmup)
            connections.clear()
            keep_alive = rate(transport.send, batch)
            kept_connections = len(connections)

        def send_on_a_new_connection(transfer):
            with HttpPartnerTransport(url, token="bench", timeout=5) as fresh:
                fresh.send(transfer)

        new_connections = rate(send_on_a_new_connection, batch)

    with partner_server(_NaglePartner) as (url, _):
        with HttpPartnerTransport(url, token="bench", timeout=5) as transport:
            nagle = rate(transport.send, batch[:300])

    with tempfile.TemporaryDirectory() as folder:
        folder_rate = rate(FolderTransport(folder).send, batch)

    print(f"transfers: {len(batch)} (push payloads to both partners, sent one after the other)")
    print(f"HttpPartnerTransport, keep-alive session: {keep_alive:8.0f} transfers/s "
          f"over {kept_connections} connection(s)  target {TARGET_PER_SECOND}/s: "
          f"{'met' if keep_alive >= TARGET_PER_SECOND else 'NOT met'}")
    print(f"HttpPartnerTransport, new connection each: {new_connections:7.0f} transfers/s")
    print(f"HttpPartnerTransport, keep-alive, partner without TCP_NODELAY: {nagle:5.0f} transfers/s")
    print(f"FolderTransport (fsync per file):          {folder_rate:7.0f} transfers/s")


if __name__ == "__main__":
    main()
