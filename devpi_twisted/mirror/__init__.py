"""The PyPI mirror: upstream pages and files, cached through the store."""
