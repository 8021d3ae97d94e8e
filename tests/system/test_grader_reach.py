"""Nobody but the instructor reaches the grader: another Unix account on the machine runs no code in it.

Whoever can send a Dask scheduler, worker or nanny a message runs code in it (``run_on_scheduler``:
in the instructor's own process). While a class is graded on ``local:N``, a real second account
(``h1-mallory``, made here with ``useradd``; the tests that need it run as root, as CI does) that
knows every port of the cluster tries the obvious attacks -- a ``Client`` over plain TCP, and raw
Dask messages to every port over plain TCP, over TLS with a certificate of its own and over TLS
with none -- and no file its code would write appears. The same attack on a cluster without TLS
does run code (so the attack itself works). The cluster serves no page to anyone (no dashboard,
metrics or logs), and listens on loopback only. A separate cluster is reached over ``tls://``
with Dask's own settings, made as the README says.
"""

import json
import os
import pwd
import shutil
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from servers import free_port

from course.grading import cluster as grading_cluster
from course.grading.cluster import ClusterError, connect, grade_on_cluster

from helpers import ROOT, dump

pytestmark = pytest.mark.slow
ATTACKER = "h1-mallory"
UNIT = "01_perceptron"
ATTEMPT_S = 3  # each attempt's connection timeout: a handshake on loopback takes milliseconds

#: The attacker: a fresh interpreter (it holds no key of the grader) that imports what it needs,
#: drops to the other account, and tries every way in. Prints one JSON list of outcomes.
ATTACK = textwrap.dedent(
    """
    import asyncio, json, os, ssl, sys
    from distributed import Client
    from distributed.core import rpc
    from distributed.protocol import pickle
    from distributed.security import Security

    def plant(path):  # what the attacker wants to run inside the grader
        with open(path, "w") as f:
            f.write(f"ran as uid {os.getuid()}")
        return "ran"

    async def message(address, op, marker, connection_args, timeout):
        r = rpc(address, connection_args=connection_args, timeout=timeout)
        try:
            call = getattr(r, op)(function=pickle.dumps(plant), args=pickle.dumps((marker,)))
            return await asyncio.wait_for(call, 4 * timeout)
        finally:
            await r.close_rpc()

    uid, gid, timeout, folder, targets = json.loads(sys.argv[1])
    none = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH)
    none.check_hostname, none.verify_mode = False, ssl.CERT_NONE
    ways = {
        "plain tcp": ("tcp://", {}),
        "tls, its own certificate": ("tls://", Security.temporary().get_connection_args("client")),
        "tls, no certificate": ("tls://", {"ssl_context": none}),
    }
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    assert os.getuid() == uid and os.geteuid() == uid
    outcomes = []

    def attempt(what, run):
        marker = os.path.join(folder, f"attack-{len(outcomes)}")
        try:
            outcomes.append({"what": what, "marker": marker, "ran": repr(run(marker))})
        except OSError as e:  # refused, closed, a failed handshake, a timeout
            outcomes.append({"what": what, "marker": marker, "refused": f"{type(e).__name__}: {e}"[:300]})
        except Exception as e:  # anything else: the attack itself broke, which proves nothing
            outcomes.append({"what": what, "marker": marker, "broken": f"{type(e).__name__}: {e}"[:300]})

    scheduler = targets[0][0].split("://")[1]
    def with_client(marker):
        with Client("tcp://" + scheduler, timeout=timeout) as client:
            return client.run_on_scheduler(plant, marker)
    attempt(f"Client(tcp://{scheduler}).run_on_scheduler", with_client)
    for address, op in targets:
        for way, (scheme, args) in ways.items():
            target = scheme + address.split("://")[1]
            attempt(f"{op} on {target} ({way})", lambda m: asyncio.run(message(target, op, m, args, timeout)))
    print(json.dumps(outcomes))
    """
)


@pytest.fixture(scope="module")
def mallory():
    """(uid, gid) of a real second account on this machine, removed at the end."""
    if os.geteuid() != 0:
        pytest.skip("creates a Unix account (useradd) and acts as it: run as root (CI does)")
    made = False
    try:
        pwd.getpwnam(ATTACKER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ATTACKER], check=True
        )
        made = True
    entry = pwd.getpwnam(ATTACKER)
    yield entry.pw_uid, entry.pw_gid
    if made:
        subprocess.run(["userdel", ATTACKER], check=False)


def cluster_targets(client):
    """[(address, op)] of every server of a cluster: the scheduler, each worker and its nanny."""
    info = client.scheduler_info()
    targets = [(info["address"], "run_function")]
    for address, worker in info["workers"].items():
        targets += [(address, "run"), (worker["nanny"], "run")]
    return targets


def attack(account, folder, targets):
    """The outcomes of the attacker's attempts (a list of dicts: what, marker, ran|refused|broken)."""
    uid, gid = account
    os.chmod(folder, 0o700)  # only the grader can write there: a marker file means the grader ran it
    arg = json.dumps([uid, gid, ATTEMPT_S, str(folder), targets])
    proc = subprocess.run([sys.executable, "-c", ATTACK, arg], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the attacker crashed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_no_code_ran(outcomes):
    ran = [o for o in outcomes if "ran" in o or Path(o["marker"]).exists()]
    broken = [o for o in outcomes if "broken" in o]
    assert not ran, f"another account ran code in the grader: {dump(ran)}"
    assert not broken, f"the attack broke before it reached the grader (so it proves nothing): {dump(broken)}"
    assert len(outcomes) >= 10, dump(outcomes)


@pytest.fixture(scope="module")
def class_of_three(tmp_path_factory):
    """[(path, expected score)]: a correct, a partly wrong and an untouched submission of unit 01."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("grading_speed", ROOT / "bench" / "grading_speed.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    subs, _ = bench.make_submissions(UNIT, 4)
    folder = tmp_path_factory.mktemp("class")
    paths = []
    for student in ("student00", "student02", "student03"):
        (folder / f"{student}.ipynb").write_text(subs[student][0])
        paths.append(str(folder / f"{student}.ipynb"))
    return paths


def test_another_account_runs_no_code_in_a_class_graded_on_a_local_cluster(mallory, class_of_three, tmp_path):
    clusters, outcomes = [], []

    def connect_and_keep(scheduler, **kwargs):
        client, local = connect(scheduler, **kwargs)
        clusters.append((client, local))
        return client, local

    def attack_after_the_first_grade(done):  # the rest of the class is being graded meanwhile
        for i, fut in enumerate(done):
            if i == 0:
                client, _ = clusters[0]
                outcomes.extend(attack(mallory, tmp_path, cluster_targets(client)))
            yield fut

    real_connect = grading_cluster.connect
    grading_cluster.connect = connect_and_keep
    try:
        results = grade_on_cluster(
            class_of_three, "local:1", timeout=30, unit=UNIT, root=ROOT, progress=attack_after_the_first_grade
        )
    finally:
        grading_cluster.connect = real_connect
    assert_no_code_ran(outcomes)
    scores = [r["score"] for r in results]
    assert scores[0] == 5.0 and 0 < scores[1] < 5.0 and scores[2] == 0, dump(results)
    assert all(r["isolation"] != "none" and r["worker"].startswith("tls://127.0.0.1:") for r in results), dump(results)


def test_the_same_attack_runs_code_in_a_cluster_without_tls(mallory, tmp_path):
    """The attacker is not a straw man: on a plain Dask LocalCluster (what local:N was) its code runs."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as plain:
        with Client(plain) as client:
            outcomes = attack(mallory, tmp_path, cluster_targets(client))
    ran = [o for o in outcomes if "ran" in o and Path(o["marker"]).read_text() == "ran as uid 0"]
    assert ran and ran[0]["what"].startswith("Client(tcp://"), f"the attack did not get in: {dump(outcomes)}"


def listening(pids):
    """{(ip, port)} that the processes ``pids`` listen on (TCP)."""
    out = set()
    for pid in pids:
        for c in psutil.Process(pid).net_connections(kind="inet"):
            if c.status == psutil.CONN_LISTEN:
                out.add((c.laddr.ip, c.laddr.port))
    return out


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture(scope="module")
def local_cluster():
    """(client, cluster, {(ip, port)} its processes listen on) of connect('local:1')."""
    before = listening([os.getpid()])
    client, local = connect("local:1")
    try:
        yield client, local, listening([os.getpid(), *client.run(os.getpid).values()]) - before
    finally:
        client.close()
        local.close()


def test_a_local_cluster_listens_on_loopback_only(local_cluster):
    _, _, sockets = local_cluster
    assert len(sockets) >= 5, f"expected a scheduler, a nanny, a worker and HTTP servers: {sorted(sockets)}"
    assert {ip for ip, _ in sockets} <= {"127.0.0.1", "::1"}, f"listens beyond loopback: {sorted(sockets)}"


def test_a_local_cluster_has_no_dashboard_and_serves_no_page(local_cluster):
    """Dask's HTTP servers still listen (on 127.0.0.1): they must answer nothing, not logs, not metrics."""
    client, local, _ = local_cluster
    ports = [local.scheduler.http_server.port, *client.run(lambda dask_worker: dask_worker.http_server.port).values()]
    for port in ports:
        for page in ("/status", "/health", "/metrics", "/info/main/workers.html", "/json/identity.json"):
            assert status_of(f"http://127.0.0.1:{port}{page}") == 404, f"port {port} serves {page}"


def test_a_tls_scheduler_without_dasks_tls_settings_is_one_clear_error():
    import dask

    with dask.config.set({"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None}):
        with pytest.raises(ClusterError, match=r"needs Dask's TLS settings: distributed\.comm\.tls\.ca-file"):
            connect("tls://127.0.0.1:9")


def test_a_separate_cluster_is_reached_over_tls_with_the_readmes_files_and_config(tmp_path):
    """openssl makes the certificate; dask scheduler/worker get --tls-*; the client a Dask config file."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl (apt-get install openssl) to make the cluster's certificate")
    key, cert = tmp_path / "grader.key", tmp_path / "grader.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:3072", "-nodes", "-days", "365", "-subj", "/CN=course-grader",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ["--tls-ca-file", str(cert), "--tls-cert", str(cert), "--tls-key", str(key)]
    port = free_port()
    dask_bin = str(Path(sys.executable).parent / "dask")
    env = dict(os.environ, **grading_cluster.config_environment())
    procs = []
    try:
        for args in (
            ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", *tls],
            ["worker", f"tls://127.0.0.1:{port}", "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard", *tls],
        ):
            with open(tmp_path / f"{args[0]}.log", "w") as log:
                procs.append(subprocess.Popen([dask_bin, *args], env=env, cwd=tmp_path, stdout=log, stderr=log))
        (tmp_path / "dask").mkdir()
        (tmp_path / "dask" / "course-tls.yaml").write_text(
            "distributed:\n  comm:\n    require-encryption: true\n    tls:\n"
            f"      ca-file: {cert}\n      client:\n        cert: {cert}\n        key: {key}\n"
        )
        probe = (
            "import os, sys; from course.grading.cluster import connect\n"
            "client, _ = connect(sys.argv[1]); print(sorted(client.run(os.getpid))); client.close()"
        )
        env = dict(os.environ, DASK_CONFIG=str(tmp_path / "dask"))
        out = subprocess.run(
            [sys.executable, "-c", probe, f"tls://127.0.0.1:{port}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        logs = {p.name: p.read_text()[-2000:] for p in tmp_path.glob("*.log")}
        assert out.returncode == 0 and out.stdout.startswith("['tls://127.0.0.1:"), f"{out.stderr[-3000:]}\n{logs}"
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
