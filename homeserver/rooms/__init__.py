"""Rooms: writing events (creation, sending, membership) and reading them back."""
