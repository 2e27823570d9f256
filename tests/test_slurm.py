"""On a real SLURM cluster: job arrays and dask-jobqueue give a local run's scores, bit for bit.

Run by ``.ci/slurm``, which brings up a one-node cluster from Debian's packages and sets
``CGFAST_SLURM=1``; skipped elsewhere. Every check reads the scores, never only an exit code:
SLURM can report a task as completed that never ran. Every wait has a time limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cgfast

pytestmark = pytest.mark.skipif(
    os.environ.get("CGFAST_SLURM") != "1",
    reason="needs a SLURM cluster: CGFAST_SLURM=1 (.ci/slurm brings one up)",
)

BIN = Path(sys.executable).parent
CGFAST = str(BIN / "cgfast")  # the installed command, as the jobs run it
NAME = "cgfast-test"  # every job of these tests, for scancel --name
SCORING = ["--max-block", "64", "--seed", "3", "--threads", "1", "--no-progress"]


def env() -> dict[str, str]:
    """The tests' environment (SLURM_CONF included), the venv's commands first; sbatch hands
    it to the jobs."""
    found = dict(os.environ)
    found["PATH"] = f"{BIN}{os.pathsep}{found.get('PATH', '')}"
    return found


def run(*command: str | Path, timeout: float = 120, cwd: Path | None = None) -> str:
    """Runs a command to the end (at most ``timeout`` seconds), failing with its stderr."""
    done = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
        cwd=cwd,
    )
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(autouse=True)
def no_jobs_left():
    """No job of a test outlives it, whatever the test's outcome."""
    yield
    subprocess.run(["scancel", "--name", NAME], timeout=30, env=env(), check=False)


def test_the_cluster_is_up():
    """The other tests' premise, said plainly when it fails: sinfo lists an idle node."""
    assert shutil.which("sinfo"), "CGFAST_SLURM=1, but no sinfo on PATH"
    assert "idle" in run("sinfo", "-h", "-o", "%t", timeout=30).split()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    """X.npy and y.npy: 600 rows of three shifted Gaussians (the jobs run on this machine, as
    this user, so any path is one they can read)."""
    folder = tmp_path_factory.mktemp("slurm-data")
    rng = np.random.default_rng(11)
    y = rng.integers(0, 3, 600)
    X = (rng.normal(size=(600, 16)) + 0.8 * y[:, None]).astype(np.float32)
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", y)
    return folder / "X.npy", folder / "y.npy"


def local_scores(data: tuple[Path, Path], folder: Path, *scoring: str) -> np.ndarray:
    """The scores of one local `cgfast score` run with these arguments, from its file."""
    out = folder / "local.npy"
    run(CGFAST, "score", *data, *SCORING, *scoring, "-o", out)
    return np.load(out)


def array_script(folder: Path, data: tuple[Path, Path], parts: int, *scoring: str) -> Path:
    """A job array of ``parts`` tasks, each scoring its part into ``folder/run``."""
    script = folder / "score-array.sh"
    script.write_text(
        "#!/bin/bash\n"
        f"#SBATCH --array=0-{parts - 1} --cpus-per-task=1 --time=00:05:00 --job-name={NAME}\n"
        f"#SBATCH --output={folder}/slurm-%A_%a.out\n"
        "set -euo pipefail\n"
        f"{CGFAST} score {data[0]} {data[1]} {' '.join([*SCORING, *scoring])} "
        f'--checkpoint {folder}/run --part "$SLURM_ARRAY_TASK_ID" --parts {parts}\n'
    )
    return script


def logs(folder: Path) -> str:
    """The array tasks' logs, for a failure's message."""
    return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(folder.glob("*.out")))


def test_job_array_with_fixed_repeats_is_bit_identical_to_local(data, tmp_path):
    script = array_script(tmp_path, data, 4, "--repeats", "2")
    done = subprocess.run(
        ["sbatch", "--parsable", "--wait", str(script)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env(),
    )
    assert done.returncode == 0, f"{done.stderr}\n{logs(tmp_path)}"
    job = done.stdout.strip()
    # Every task ran cgfast to its end: its log holds cgfast's summary line.
    outs = sorted(tmp_path.glob(f"slurm-{job}_*.out"))
    assert len(outs) == 4, outs
    for log in outs:
        assert f"-> {tmp_path}/run" in log.read_text(), log.read_text()
    run(CGFAST, "assemble", tmp_path / "run", "-o", tmp_path / "scores.npy")
    scores = np.load(tmp_path / "scores.npy")
    local = local_scores(data, tmp_path, "--repeats", "2")
    assert scores.shape == (600,) and np.isfinite(scores).all()
    assert np.array_equal(scores, local)


# The docs' loop (docs/guide/cluster.md), with its cap: one submission per round of repeats.
LOOP = """\
for submission in $(seq 10); do                  # at most 10 submissions
    echo "submission $submission"
    sbatch --wait score-array.sh                 # the array: the next round
    cgfast assemble run -o scores.npy && break
    [ "$submission" -lt 10 ] || { echo "no scores after 10 submissions" >&2; false; }
done
"""


def test_job_array_with_auto_repeats_goes_round_by_round_to_the_local_scores(data, tmp_path):
    # 0.99 is out of reach of 8 repeats: the rounds go to the cap, 4 repeats and then more.
    auto = ["--repeats", "auto", "--stability", "0.99", "--max-repeats", "8"]
    array_script(tmp_path, data, 3, *auto)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", LOOP],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"{done.stdout}{done.stderr[-3000:]}\n{logs(tmp_path)}"
    submissions = done.stdout.count("submission ")
    assert submissions >= 2, done.stdout  # more than one round
    # Each submission ran every task: three logs per array job, each with cgfast's summary.
    outs = sorted(tmp_path.glob("slurm-*.out"))
    assert len(outs) == 3 * submissions, outs
    assert all(f"-> {tmp_path}/run" in log.read_text() for log in outs)
    scores = np.load(tmp_path / "scores.npy")
    local = local_scores(data, tmp_path, *auto)
    assert scores.shape == (600,) and np.isfinite(scores).all()
    assert np.array_equal(scores, local)


ARGS = dict(max_block=64, repeats=2, seed=3)


@pytest.fixture
def shipped():
    """The workers cannot import this test module: its functions travel by value."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def slurm_cluster(folder: Path):
    """A dask-jobqueue cluster whose workers are one-core SLURM jobs."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        cores=1,
        processes=1,
        memory="1GB",
        walltime="00:05:00",
        python=sys.executable,
        job_name=NAME,
        log_directory=str(folder / "logs"),
        scheduler_options={"dashboard_address": None},
    )


def in_thread(work):
    """``work()`` in a thread, for :func:`finish` to wait for with a time limit."""
    out: dict[str, object] = {}

    def target():
        try:
            out["value"] = work()
        except BaseException as err:  # noqa: B036 - handed to the test
            out["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def finish(thread: threading.Thread, out: dict, timeout: float):
    """The result of :func:`in_thread`'s work, failing after ``timeout`` seconds, never hanging."""
    thread.join(timeout)
    assert not thread.is_alive(), f"no result after {timeout} s"
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


def job_id() -> str | None:
    return os.environ.get("SLURM_JOB_ID")


def slurm_jobs(client) -> dict[str, str]:
    """Each worker's SLURM job id, read in the worker: proof that it runs as a job."""
    return client.run(job_id)


def test_dask_jobqueue_workers_are_bit_identical_to_local(data, tmp_path, shipped):
    from dask.distributed import Client

    X, y = str(data[0]), np.load(data[1])
    local = cgfast.score(np.load(X), y, **ARGS)
    with slurm_cluster(tmp_path) as cluster, Client(cluster, timeout=60) as client:
        cluster.scale(jobs=2)
        client.wait_for_workers(2, timeout=90)
        jobs = slurm_jobs(client)
        assert len(jobs) == 2 and all(jobs.values()), jobs
        thread, out = in_thread(lambda: cgfast.score(X, y, client=client, n_jobs=1, **ARGS))
        scores = finish(thread, out, 120)
    assert np.array_equal(scores, local)


def _slow_blocks():
    """Makes every block of this worker take 0.25 s longer, so that a run lasts long enough to
    cancel a worker in its middle."""
    import time

    import cgfast.engine as engine

    real = engine.score_block

    def slow(*args):
        time.sleep(0.25)
        return real(*args)

    engine.score_block = slow


def test_a_worker_job_cancelled_mid_run_loses_nothing(data, tmp_path, shipped):
    from dask.distributed import Client

    X, y = str(data[0]), np.load(data[1])
    local = cgfast.score(np.load(X), y, **ARGS)
    total = len(cgfast.plan_blocks(np.unique(y, return_inverse=True)[1], ratio=1.0, **ARGS))
    assert total >= 30, total  # a run of several seconds on two workers
    checkpoint = tmp_path / "run"
    with slurm_cluster(tmp_path) as cluster, Client(cluster, timeout=60) as client:
        cluster.scale(jobs=2)
        client.wait_for_workers(2, timeout=90)
        jobs = slurm_jobs(client)
        assert len(jobs) == 2 and all(jobs.values()), jobs
        client.run(_slow_blocks)
        thread, out = in_thread(
            lambda: cgfast.score(X, y, client=client, checkpoint=checkpoint, n_jobs=1, **ARGS)
        )
        deadline = time.monotonic() + 60
        while len(list((checkpoint / "blocks").glob("*.npz"))) < 4:
            assert time.monotonic() < deadline and thread.is_alive(), "no block finished"
            time.sleep(0.05)
        victim = sorted(jobs.values())[0]
        run("scancel", victim, timeout=30)
        at_cancel = len(list((checkpoint / "blocks").glob("*.npz")))
        scores = finish(thread, out, 120)
        assert at_cancel < total, "the run had finished before the cancel"
        # The job is gone, and with it its worker: the other finished the run.
        assert victim not in run("squeue", "-h", "-o", "%i", timeout=30).split()
        assert list(slurm_jobs(client).values()) == [j for j in jobs.values() if j != victim]
    assert len(list((checkpoint / "blocks").glob("*.npz"))) == total
    assert np.array_equal(scores, local)
