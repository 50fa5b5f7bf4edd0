"""Notification service: the emails the Lokaal Loket promises parents, each sent once."""
