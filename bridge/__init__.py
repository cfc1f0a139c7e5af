"""The domain and the Discourse client. Knows nothing of Flask or RQ (web and workers
hand in what it needs of them, e.g. the job counts for the metrics)."""
