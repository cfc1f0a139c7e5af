"""The domain and the Discourse client. Knows nothing of Flask or RQ."""
