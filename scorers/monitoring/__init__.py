"""Is the model still right? The statistics that judge a model after it was put to use.

Pure functions on arrays, shared by training (which writes the training reference beside each model)
and serving (``leadscore monitor``, which judges matured cohorts and input drift):

- :mod:`~leadscore.scorers.monitoring.cohort_checks`: one cohort of predictions against what happened
  (observed rate against the range its probabilities allow, AUC against the model's own test interval,
  ECE, calibration slope and intercept, each with an interval) and the family-wise correction over cohorts;
- :mod:`~leadscore.scorers.monitoring.reference`: the training reference, a compact sketch of each
  feature and of the score in the data the model learnt from, per snapshot age;
- :mod:`~leadscore.scorers.monitoring.drift`: the population stability index of each feature in a
  window of scored leads against that reference, with a threshold set by simulation at that sample size,
  and the features that moved, in the catalogue's words.
"""
