"""What a leadscore model is: its artifacts stored as data, how it predicts, explains and phrases.

Training writes a model through :mod:`leadscore.scorers.model.artifacts`, serving reads it back
through the same module (as data: LightGBM's booster text and JSON, never pickles or code from the
model store), and the MLflow pyfunc that training logs is a thin wrapper around it.
"""
