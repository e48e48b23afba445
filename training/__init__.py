"""leadscore.training: training sets to calibrated, evaluated models tracked and registered in MLflow."""
