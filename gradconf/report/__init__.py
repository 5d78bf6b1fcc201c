"""Views of results: the failure text, the Markdown summary and the one-file HTML page."""
