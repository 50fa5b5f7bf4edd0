"""Retention service: erase a dossier everywhere 5 years after its last activity (P14, P15), track the
erasure across services, and keep only anonymised statistics (P9)."""
