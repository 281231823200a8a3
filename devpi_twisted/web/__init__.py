"""The klein resource tree that speaks devpi's HTTP protocols."""
