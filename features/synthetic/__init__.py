"""The demo generator: a synthetic B2B world whose funnel follows the worked example, with exact truth."""
