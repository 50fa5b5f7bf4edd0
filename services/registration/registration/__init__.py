"""The registration service: it owns dossiers (applicant, partner, children, one request per child,
priority data, consents, access grants) and emits every dossier event."""
