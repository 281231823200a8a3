"""The browser UI: pages at devpi-web's URLs, rendered from templates, cached per serial."""
