"""The HTTP edge of the Lokaal Loket: accounts, sessions and roles (issue 7)."""
