"""leadscore: predictive B2B lead scoring. The command line lives here; the library in .features, .training, .serving."""
