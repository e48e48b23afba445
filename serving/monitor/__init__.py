"""``leadscore monitor``: is the model still right? Matured cohorts and input drift from the score history.

:mod:`~leadscore.serving.monitor.judge` composes the steps; the statistics themselves are
:mod:`leadscore.scorers.monitoring`'s.
"""
