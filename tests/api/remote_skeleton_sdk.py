"""The walking skeleton as a user's script on another machine: only the SDK, a server URL and a token
(MLOPS_SERVER, MLOPS_TOKEN). Run by tests/api/test_remote_skeleton.py in a process whose environment holds no
database URL and no object-store credentials.

    python remote_skeleton_sdk.py SPEC.json   → prints one JSON line: ids, statuses, the prediction
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mlops_lite.client import Client


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    with Client() as client:  # MLOPS_SERVER and MLOPS_TOKEN
        dataset = client.datasets.create(spec["name"], spec["scenario"])
        for upload in spec["files"]:
            splits = upload["splits"]
            client.datasets.upload(
                dataset.id,
                upload["path"],
                train="train" in splits,
                val="val" in splits,
                test="test" in splits,
            )
        published = client.releases.publish(dataset.id)
        release = client.releases.wait(published.release.id, timeout=600)
        job = client.jobs.create(
            f"{spec['name']}-job",
            scenario=spec["scenario"],
            algorithm=spec["algorithm"],
            release_id=release.id,
            params=spec["params"],
        )
        job.start()
        job = job.wait(timeout=1200)
        serving = client.servings.create(f"{spec['name']}-svc", job.id)
        serving = client.servings.wait(serving.serving.id, "running", timeout=600)
        answer = client.servings.predict(serving.id, json.loads(Path(spec["payload"]).read_text()))
        print(
            json.dumps(
                {
                    "release": release.status,
                    "job": job.status,
                    "serving": serving.observed_state,
                    "serving_id": serving.id,
                    "answer": answer,
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1])
