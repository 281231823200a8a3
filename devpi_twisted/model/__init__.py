"""The domain rules: plain Python, no Twisted, no HTTP."""
