"""/sync: tokens, filters and assembling what changed for one user."""
