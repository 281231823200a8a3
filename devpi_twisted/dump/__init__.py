"""Server dumps in devpi-server's export format: dataindex.json plus the files, read and written."""
