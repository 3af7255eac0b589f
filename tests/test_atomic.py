"""A publication is never lost (issue 15, case 1): the publish step is killed — os._exit, as kill -9 or a
power cut, no cleanup — before every one of its file operations and before and after its database commit
(fault injection: PARINDEX_KILL_AT_STEP, not sleeps); after each kill the next run, even one that fails
validation, finds either the earlier publication or the new one, complete, matching its manifest and the
database, with nothing half-swapped left behind."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from expectations.suites import validate
from tasks import publishing, store
from tasks.compute import compute
from tasks.runrecord import RunRecord
from tests.conftest import REPO
from tests.helpers import edit_csv, read_folder

pytestmark = [pytest.mark.flow, pytest.mark.xdist_group("flow")]

KILL_SCRIPT = """
import pickle, shutil, sys
from pathlib import Path
from tasks import publishing, store
template, out, url, run, bundle, computed = pickle.loads(Path(sys.argv[1]).read_bytes())
staging = Path(out) / f".staging-{run.run_id}"
shutil.copytree(template, staging)
index = computed.ranked["unit_code"].map(computed.results.set_index("unit_code")["index_pct"])
publishing.publish_staged(staging, Path(out), url,
                          lambda conn: store.write_publication(conn, run, bundle, computed, index, None),
                          run.run_id)
"""


@pytest.fixture
def two_versions(prefect_harness, mini, tmp_path):
    """Version 1 published by the flow into OUT; version 2's complete staging and rows, ready to publish."""
    from flows.annual import annual_run

    out = tmp_path / "out"
    annual_run(inputs=str(mini), out=str(out), unit_pdfs=False)
    edit_csv(mini / "self_assessment.csv",
             lambda d: d.assign(appraised_points=d["appraised_points"].where(d.index != 0, "1")))
    template = tmp_path / "template"
    bundle = read_folder(mini, template)  # archives the inputs into template/inputs
    computed = compute(bundle, validate(bundle))
    run_id = str(uuid.uuid4())
    for name in publishing.published_names(out):  # the other outputs as version 1 has them: what moves counts
        src = out / name
        if src.is_file() and name != "manifest.json":
            shutil.copyfile(src, template / name)
    (template / "results.csv").write_text(computed.results.to_csv(index=False), encoding="utf-8")
    m = bundle.methodology
    now = datetime.now(UTC).replace(microsecond=0)
    run = RunRecord(run_id=run_id, version=1, parent_run_id=None, province="Tỉnh Thử Nghiệm", year=m.year,
                    level=m.level, methodology_id=m.id, methodology_sha256=m.sha256, inputs_sha256="x" * 64,
                    code_version="test", out_dir=str(out), synthetic=False, started_at=now, finished_at=now)
    manifest = {"run_id": run_id, "version": 1, "database": store.default_url(out),
                "inputs": {f.role: {"file": f.archived, "sha256": f.sha256} for f in bundle.files}}
    publishing.write_manifest(template / "manifest.json", manifest, template)
    v1 = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["run_id"]
    job = tmp_path / "job.pickle"
    job.write_bytes(pickle.dumps((str(template), str(out), store.default_url(out), run, bundle, computed)))
    return out, job, v1, run_id, (template / "results.csv").read_bytes()


def kill_at(job, step: int) -> int:
    env = {**os.environ, "PARINDEX_KILL_AT_STEP": str(step)}
    return subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(job)], cwd=REPO, env=env, capture_output=True,
                          timeout=120).returncode


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and ".sqlite" not in p.name}


def test_a_kill_at_every_step_of_publishing_never_loses_a_publication(two_versions, tmp_path):
    out, job, v1, v2, v2_results = two_versions
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)
    v1_files = snapshot(out)
    outcomes = []
    step = 0
    while True:
        step += 1
        shutil.rmtree(out)
        shutil.copytree(pristine, out)
        code = kill_at(job, step)
        if code == 0:  # no step left to kill: the publication went through
            break
        assert code == 137, f"step {step}: exit {code}"
        assert publishing.recover_interrupted(out), f"step {step}: nothing to recover"
        assert not list(out.glob(".swap-*")) and not list(out.glob(".previous-*"))
        assert not list(out.glob(".staging-*"))
        run_id = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["run_id"]
        assert publishing.verify_publication(out) == [], f"step {step}"
        if run_id == v1:
            assert snapshot(out) == v1_files, f"step {step}"
            assert store.run_status(store.default_url(out), v2) is None
        else:
            assert run_id == v2 and (out / "results.csv").read_bytes() == v2_results, f"step {step}"
            assert store.run_status(store.default_url(out), v2) == "published"
        outcomes.append(run_id == v2)
    # a kill before the commit restores version 1; after it, version 2 is completed
    assert step > 20 and outcomes[0] is False and outcomes[-1] is True
    assert outcomes == sorted(outcomes)


def test_after_a_kill_a_run_that_fails_validation_restores_the_publication(two_versions, mini, tmp_path):
    out, job, v1, _, _ = two_versions
    before = snapshot(out)
    assert kill_at(job, 8) == 137  # in the middle of the swap: version 1 half moved aside
    assert not (out / "results.csv").exists() or list(out.glob(".swap-*"))
    edit_csv(mini / "units.csv", lambda d: d.assign(level=d["level"].where(d.index != 0, "")))
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--inputs", str(mini), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "restored the earlier publication" in done.stderr
    assert snapshot(out) == before and publishing.verify_publication(out) == []
