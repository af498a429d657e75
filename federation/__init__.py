"""Server-Server API: server keys, X-Matrix request auth, transactions (issue 6)."""
