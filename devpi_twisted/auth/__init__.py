"""Authentication: password hashes, signed tokens, request credentials."""
