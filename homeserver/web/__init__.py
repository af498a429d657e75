"""Transport glue both APIs share: middleware, JSON bodies and responses, path and query
parameters. It sits under homeserver/ because the top-level packages are fixed, and like
the rest of the core it imports neither client_api nor federation."""
