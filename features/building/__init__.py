"""Point-in-time features and labels: the spine, the DuckDB staging, the feature families, the training set."""
