"""Events as data: canonical JSON, keys, signing, hashing, redaction, auth rules, format."""
