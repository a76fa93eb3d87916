"""The web dashboard in a real browser (Debian's chromium through Playwright)."""
