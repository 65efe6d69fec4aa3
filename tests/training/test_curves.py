"""Training logs: JSONL record, TensorBoard events, PNG; a fresh run clears an earlier run's logs."""

import json

from training.curves import MetricsLog


def test_logs_plot_and_fresh_start(tmp_path):
    log = MetricsLog(tmp_path)
    log.log("train", 1, 0.5, {"loss": 2.0, "lr": 1e-3})
    log.log("dev", 1, 1.0, {"loss": 1.5, "rougeL": 0.2, "eos_rate": 0.5})
    assert log.plot().stat().st_size > 10_000
    log.close()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [dict(kind="train", step=1, epoch=0.5, loss=2.0, lr=1e-3),
                    dict(kind="dev", step=1, epoch=1.0, loss=1.5, rougeL=0.2, eos_rate=0.5)]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))

    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"kind": "train", "st')  # killed mid-write
    MetricsLog(tmp_path).close()  # a resumed run drops the partial line before appending
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2

    old_events = set((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(old_events) == 2
    MetricsLog(tmp_path, fresh=True).close()  # a new run from step 0 in the same folder
    assert not (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "curves.png").exists()
    (new,) = (tmp_path / "tensorboard").glob("events.out.tfevents.*")  # only its own event file
    assert new not in old_events
