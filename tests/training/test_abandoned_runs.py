"""A training run whose ``leadscore train`` process is gone is ended FAILED by the next train, with a tag saying why;
runs of live processes, of other hosts and of other tools are left alone. A process is recognised by host, pid and
(on Linux) its boot and start tick, so a reused pid does not keep a dead train's run alive.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from leadscore.training.tracking import (
    FAILED_TAG,
    PROCESS_TAG,
    fail_abandoned_runs,
    process_identity,
    process_is_gone,
)


def _ended_process() -> dict[str, str]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    identity = process_identity(child.pid)
    child.kill()
    child.wait(timeout=30)
    return identity


def test_only_runs_whose_train_process_is_gone_are_marked_failed_with_why(tmp_path, restore_mlflow_uris):
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("leadscore-sqo")
    gone = _ended_process()
    reused = {**process_identity(), "started": "1"}  # this pid, but another process's start: the pid was reused
    tags = {
        "gone": {PROCESS_TAG: json.dumps(gone)},
        "reused": {PROCESS_TAG: json.dumps(reused)},
        "alive": {PROCESS_TAG: json.dumps(process_identity())},
        "elsewhere": {PROCESS_TAG: json.dumps({**gone, "host": "not-" + socket.gethostname()})},
        "another tool": {},
    }
    runs = {name: client.create_run(experiment, tags=run_tags).info.run_id for name, run_tags in tags.items()}

    assert sorted(fail_abandoned_runs(client)) == sorted([runs["gone"], runs["reused"]])
    status = {name: client.get_run(run_id).info.status for name, run_id in runs.items()}
    assert status == {"gone": "FAILED", "reused": "FAILED", "alive": "RUNNING", "elsewhere": "RUNNING",
                      "another tool": "RUNNING"}
    why = client.get_run(runs["gone"]).data.tags[FAILED_TAG]
    assert why == (f"its leadscore train (process {gone['pid']} on {gone['host']}) stopped without ending it; "
                   "marked FAILED by a later train")
    assert fail_abandoned_runs(client) == []


def test_a_process_is_gone_after_a_reboot_whatever_its_pid_says():
    me = process_identity()
    assert not process_is_gone(me)
    if "boot" in me:
        assert process_is_gone({**me, "boot": "another-boot"})
    assert process_is_gone({"host": socket.gethostname(), "pid": str(_ended_process()["pid"])})
    assert os.getpid() == int(me["pid"])
