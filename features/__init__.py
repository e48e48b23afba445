"""leadscore.features: data in, DataFrames out. Imports nothing from training or serving."""
