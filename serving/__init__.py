"""leadscore.serving: the batch scorer and the marketing report, reading models from MLflow as data."""
