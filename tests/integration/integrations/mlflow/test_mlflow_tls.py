"""The MLflow plugin over TLS (``runstream+tls://``, ``RUNSTREAM_TLS_CA``) with a bearer
token, against a real stack that serves TLS (a throwaway CA) and requires tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from runstream.integrations.mlflow.entry_points import RunstreamStore  # noqa: E402
from tests.fixtures.tls import make_tls_files  # noqa: E402

pytestmark = pytest.mark.integration

TOKEN = "tls-test-token"


@pytest.fixture(scope="module")
def tls_stack(
    mlflow_kafka: str, chdb_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A stack serving TLS with a certificate of a throwaway CA and one accepted token;
    yields its address and the CA certificate."""
    from runstream.infra.stack import Stack, StackSettings

    tls = make_tls_files(tmp_path_factory.mktemp("tls"))
    suffix = uuid.uuid4().hex[:10]
    stack = Stack(
        StackSettings(
            kafka=mlflow_kafka,
            clickhouse=chdb_dsn,
            database=f"mlflow_tls_{suffix}",
            topic=f"mlflow.tls.{suffix}",
            address="127.0.0.1:0",
            auth_tokens=(TOKEN,),
            tls_cert=str(tls.cert),
            tls_key=str(tls.key),
        )
    ).start()
    try:
        yield str(stack.address), tls.ca
    finally:
        stack.stop()


def test_the_plugin_writes_and_reads_over_tls(
    tls_stack: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, ca = tls_stack
    monkeypatch.setenv("RUNSTREAM_TLS_CA", str(ca))
    monkeypatch.setenv("RUNSTREAM_TOKEN", TOKEN)
    client = MlflowClient(tracking_uri=f"runstream+tls://{address}")
    exp_id = client.create_experiment("over-tls")
    run_id = client.create_run(exp_id, run_name="secure").info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_metric(run_id, "loss", 0.25, step=3)
    client.set_terminated(run_id, "FINISHED")
    got = client.get_run(run_id)
    assert got.info.run_name == "secure"
    assert got.info.status == "FINISHED"
    assert got.data.params == {"lr": "0.1"}
    assert got.data.metrics == {"loss": 0.25}
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [run_id]


@pytest.mark.parametrize("how", ["plaintext", "unknown CA", "wrong token"])
def test_what_the_tls_stack_does_not_accept_is_a_clear_error(
    tls_stack: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    how: str,
) -> None:
    address, ca = tls_stack
    monkeypatch.setenv("RUNSTREAM_MLFLOW_TIMEOUT", "20")
    monkeypatch.setenv("RUNSTREAM_TOKEN", TOKEN)
    monkeypatch.setenv("RUNSTREAM_TLS_CA", str(ca))
    uri, code = f"runstream+tls://{address}", "UNAUTHENTICATED"
    if how == "plaintext":
        uri, code = f"runstream://{address}", "TEMPORARILY_UNAVAILABLE"
    elif how == "unknown CA":
        other = make_tls_files(tmp_path / "other")  # a CA that did not sign the server's
        monkeypatch.setenv("RUNSTREAM_TLS_CA", str(other.ca))
        code = "TEMPORARILY_UNAVAILABLE"
    else:
        monkeypatch.setenv("RUNSTREAM_TOKEN", "not-the-token")
    # A store of its own: MLflow keeps one store per URI, built with the settings of then.
    with pytest.raises(MlflowException) as exc:
        RunstreamStore(uri).search_experiments()
    assert exc.value.error_code == code
