"""The floor ``bench/serve.py`` measures ``leadscore serve`` against: a bare FastAPI app running a LightGBM model.

``POST /v1/score`` reads the same JSON body (one lead, its events), predicts one row with the SQO booster on
one thread and answers the probability: the least any Python service answering with this model does.
Started by ``bench/serve.py`` as ``python bench/floor_app.py BOOSTER_FILE --port N --workers W``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

BOOSTER_VARIABLE = "LEADSCORE_FLOOR_BOOSTER"


def create_app() -> object:
    import lightgbm as lgb
    from fastapi import Body, FastAPI

    booster = lgb.Booster(model_file=os.environ[BOOSTER_VARIABLE])
    row = np.full((1, booster.num_feature()), np.nan)
    app = FastAPI()

    @app.get("/ready")
    def ready() -> dict:
        return {"ready": True}

    @app.post("/v1/score")
    def score(body: dict = Body(...)) -> dict:  # noqa: B008  (FastAPI's way to take the raw JSON body)
        row[0, 0] = float(len(body.get("events") or ()))
        p = float(booster.predict(row, num_threads=1)[0])
        return {"scores": [{"lead_id": str(lead.get("lead_id")), "p_sqo": p} for lead in body["leads"]]}

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("booster")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ[BOOSTER_VARIABLE] = args.booster
    uvicorn.run("floor_app:create_app", factory=True, host="127.0.0.1", port=args.port, workers=args.workers,
                log_level="warning", access_log=False, app_dir=os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main()
