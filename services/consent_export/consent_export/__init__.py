"""Consent-export service: sends the consented dossier fields to Kind en Gezin and LOP Brussel."""
