"""One module per verb; each reads top to bottom as the steps it runs."""
