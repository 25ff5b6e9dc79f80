"""Documents: the résumé a feeler letter encloses, a portfolio, anything else a letter carries."""
