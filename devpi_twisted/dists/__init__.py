"""Release files: names, archives, metadata, upload bodies (pure Python; every call blocks)."""
