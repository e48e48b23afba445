"""leadscore.scorers: how a lead is scored and judged, shared by training and serving.

The model format (``model/``: artifacts stored as data, encoding, calibration, exact contributions,
reasons in words, grades, a model's whole answer, the one reader of logged models), marketing's points
(``rules/``) and the ranking metrics (``ranking``). Training writes what serving reads, so both import
this package and never each other. It builds on ``leadscore.features`` and imports nothing else.
"""
