"""``python -m homeserver`` runs the CLI."""

from homeserver.cli import main

main()
