"""``leadscore serve``: the HTTP scoring service (FastAPI, run by uvicorn).

One module per job: ``schema`` (the request and answer as pydantic models, the OpenAPI document's
source), ``request_tables`` (a request's rows to typed :class:`~leadscore.features.tables.Tables` with the
export reader's coercion and contract checks), ``context`` (an optional export whose history is merged in
for leads it knows, reloaded on a schedule), ``follower`` (the registry's ``champion`` models, swapped
atomically when the alias moves), ``auth`` (API keys compared in constant time), ``limits`` (the body size
cap), ``scoring`` (a request to answer rows through the batch scorer) and ``app`` (the FastAPI wiring).

Nothing here imports FastAPI, uvicorn or MLflow at import time of ``leadscore.serving``; the command imports
this package only when ``leadscore serve`` runs.
"""
