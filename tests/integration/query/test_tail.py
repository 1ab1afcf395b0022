"""The live tail (Tail) end to end: a real broker, the all-in-one stack (ingest + chDB +
the gRPC query service), and a writer in another process.

* points and run changes logged by another process arrive on the stream;
* a stream resumed from a token (a stream's, or a write's) starts exactly after it;
* a client that stops reading stalls neither ingest nor another stream, and is cut off
  with RESOURCE_EXHAUSTED telling it to resume; resuming from its last token loses nothing.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from runstream.infra.stack import Stack, StackSettings
from runstream.producer import RunstreamClient
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc

LOGGER = str(Path(__file__).with_name("tail_logger.py"))
EXPERIMENT = "21"
STALL_S = 4  # generous: a busy test machine must not look like a stalled reader
WAIT_S = 60.0  # a bound on waiting for what must come, not a latency claim (see the bench)


@pytest.fixture
def abandon_s(request: pytest.FixtureRequest) -> float:
    """RUNSTREAM_TAIL_ABANDON of the test's stack (a test may parametrize it)."""
    return float(getattr(request, "param", 300.0))


@pytest.fixture
def stack(
    kafka_bootstrap: str,
    chdb_dsn: str,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    abandon_s: float,
) -> Iterator[Stack]:
    monkeypatch.setenv("RUNSTREAM_TAIL_STALL", str(STALL_S))
    monkeypatch.setenv("RUNSTREAM_TAIL_ABANDON", str(abandon_s))
    monkeypatch.setenv("RUNSTREAM_QUERY_MAX_STREAMS", "3")
    settings = StackSettings(
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        database=f"tail_{uuid.uuid4().hex[:10]}",
        topic=f"{topic_prefix}.tail.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
        partitions=3,
    )
    with Stack(settings) as running:
        yield running


class Writer:
    """The logging process: one command in, its write token and wall clock out."""

    def __init__(self, stack: Stack, run_id: str, experiment_id: str = EXPERIMENT) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
        env.update(
            RUNSTREAM_URI=f"kafka://{stack.bootstrap}",
            RUNSTREAM_TOPIC=stack.settings.topic,
            TAIL_RUN_ID=run_id,
            TAIL_EXPERIMENT_ID=experiment_id,
        )
        self.proc = subprocess.Popen(
            [sys.executable, LOGGER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=env,
        )  # fmt: skip

    def do(self, command: str) -> tuple[WriteToken, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        token, at = self.proc.stdout.readline().split()
        return WriteToken.decode(token), float(at)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0


@dataclass
class Reader:
    """A stream read on a thread of its own into a queue (``reading`` cleared: it stops)."""

    call: grpc.Future
    messages: queue.Queue[query_pb2.TailMessage | grpc.RpcError] = field(
        default_factory=queue.Queue
    )
    reading: threading.Event = field(default_factory=threading.Event)
    points: list[query_pb2.TailPoint] = field(default_factory=list)
    changes: list[query_pb2.TailRunChange] = field(default_factory=list)
    token: common_pb2.WriteToken | None = None

    def start(self) -> Reader:
        self.reading.set()
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        try:
            for message in self.call:
                self.messages.put(message)
                self.reading.wait()
        except grpc.RpcError as exc:
            self.messages.put(exc)

    def take(self, timeout: float = WAIT_S) -> query_pb2.TailMessage:
        got = self.messages.get(timeout=timeout)
        if isinstance(got, grpc.RpcError):
            raise got
        self.points += got.points
        self.changes += got.changes
        self.token = got.token
        return got

    def until_points(self, count: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while len(self.points) < count:
            self.take(timeout=max(0.1, deadline - time.monotonic()))


def _tail(
    stub: query_pb2_grpc.QueryServiceStub, after: common_pb2.WriteToken | None = None, **target: str
) -> Reader:
    request = query_pb2.TailRequest(after=after, **target)
    return Reader(stub.Tail(request, timeout=300)).start()


def _steps(points: list[query_pb2.TailPoint]) -> list[int]:
    return [p.step for p in points]


@pytest.fixture
def run_id(stack: Stack) -> str:
    with RunstreamClient(f"kafka://{stack.bootstrap}", topic=stack.settings.topic) as creator:
        creator.create_experiment("tail", experiment_id=EXPERIMENT)
        rid = creator.create_run(EXPERIMENT, run_name="live").run_id
        token = creator.flush(timeout=60)
    read = query_pb2.ReadOptions(write_token=token.to_proto(), wait_timeout_ms=60_000)
    with grpc.insecure_channel(stack.address) as channel:  # a tail needs the run to exist
        stub = query_pb2_grpc.QueryServiceStub(channel)
        stub.GetRun(query_pb2.GetRunRequest(run_id=rid, read=read), timeout=90)
    return rid


def test_points_and_run_changes_logged_elsewhere_arrive_on_the_stream(
    stack: Stack, run_id: str
) -> None:
    writer = Writer(stack, run_id, experiment_id="")  # the experiment's tail finds it anyway
    with grpc.insecure_channel(stack.address) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        run_tail = _tail(stub, run_id=run_id)
        experiment_tail = _tail(stub, experiment_id=EXPERIMENT)
        first = run_tail.take()
        assert not first.points and first.token.topic == stack.settings.topic
        experiment_tail.take()
        writer.do("log loss 0 50")
        run_tail.until_points(50)
        writer.do("tag team vision")
        writer.do("end")
        while len(run_tail.changes) < 2:
            run_tail.take()
        experiment_tail.until_points(50)
        run_tail.call.cancel()
        experiment_tail.call.cancel()
    writer.close()
    assert _steps(run_tail.points) == list(range(50))
    assert [p.value for p in run_tail.points] == [float(s) for s in range(50)]
    assert {p.run_id for p in run_tail.points} == {run_id}
    assert [p.key for p in run_tail.points] == ["loss"] * 50
    tags, ended = run_tail.changes[:2]
    assert (tags.kind, dict(tags.tags)) == ("tags_set", {"team": "vision"})
    assert (ended.kind, ended.status) == ("run_updated", "FINISHED")
    assert ended.HasField("end_time")
    assert _steps(experiment_tail.points[:50]) == list(range(50))


def test_a_resumed_stream_starts_exactly_after_its_token(stack: Stack, run_id: str) -> None:
    writer = Writer(stack, run_id)
    with grpc.insecure_channel(stack.address) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        first = _tail(stub, run_id=run_id)
        first.take()
        written, _ = writer.do("log loss 0 30")
        first.until_points(30)
        assert first.token is not None
        stream_token = first.token
        first.call.cancel()
        writer.do("log loss 30 30")
        writer.do("log loss 60 30")
        from_stream = _tail(stub, after=stream_token, run_id=run_id)
        from_write = _tail(stub, after=written.to_proto(), run_id=run_id)
        from_stream.until_points(60)
        from_write.until_points(60)
        # Nothing more comes: wait for a heartbeat that moved past the last write.
        last, _ = writer.do("tag phase done")
        while not from_stream.changes:
            from_stream.take()
        from_stream.call.cancel()
        from_write.call.cancel()
    writer.close()
    assert _steps(first.points) == list(range(30))
    assert _steps(from_stream.points) == list(range(30, 90))
    assert _steps(from_write.points) == list(range(30, 90))
    assert [c.kind for c in from_stream.changes] == ["tags_set"]
    assert from_stream.token is not None
    assert (
        WriteToken.from_proto(from_stream.token).offset_map[last.offsets[0][0]]
        >= (last.offsets[0][1])
    )


def test_a_stalled_reader_stalls_nothing_and_is_cut_off_with_resource_exhausted(
    stack: Stack, run_id: str
) -> None:
    writer = Writer(stack, run_id)
    slow_options = [("grpc.http2.bdp_probe", 0)]  # keep the window small: the reader stalls
    with (
        grpc.insecure_channel(stack.address, options=slow_options) as slow_channel,
        grpc.insecure_channel(stack.address) as channel,
    ):
        stub = query_pb2_grpc.QueryServiceStub(channel)
        stalled = _tail(query_pb2_grpc.QueryServiceStub(slow_channel), run_id=run_id)
        stalled.take()
        assert stalled.token is not None
        resume_from = stalled.token
        stalled.reading.clear()  # stops reading: messages pile up on the server's side
        live = _tail(stub, run_id=run_id)
        live.take()
        batches, size = 20, 5_000
        last = WriteToken()
        for b in range(batches):
            last, _ = writer.do(f"log loss {b * size} {size}")
        # Another stream gets everything, and ingest applied everything, while one stalls.
        live.until_points(batches * size)
        read = query_pb2.ReadOptions(write_token=last.to_proto(), wait_timeout_ms=60_000)
        run = stub.GetRun(query_pb2.GetRunRequest(run_id=run_id, read=read), timeout=90)
        assert {m.key: m.step for m in run.run.data.metrics} == {"loss": batches * size - 1}
        time.sleep(STALL_S + 0.5)  # longer than RUNSTREAM_TAIL_STALL
        stalled.reading.set()
        with pytest.raises(grpc.RpcError) as cut:
            while True:
                stalled.take()
                stalled.reading.set()
        assert cut.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "resume" in (cut.value.details() or "")
        delivered = len(stalled.points)
        assert delivered < batches * size  # it was cut off before the end
        resumed = _tail(stub, after=stalled.token or resume_from, run_id=run_id)
        resumed.until_points(batches * size - delivered)
        live.call.cancel()
        resumed.call.cancel()
    writer.close()
    assert _steps(live.points) == list(range(batches * size))
    assert _steps(stalled.points) + _steps(resumed.points) == list(range(batches * size))


@pytest.mark.parametrize("abandon_s", [5.0], indirect=True)
def test_a_reader_that_never_reads_again_is_cancelled_and_frees_its_slot(
    stack: Stack, run_id: str
) -> None:
    writer = Writer(stack, run_id)
    with (
        grpc.insecure_channel(stack.address, options=[("grpc.http2.bdp_probe", 0)]) as slow,
        grpc.insecure_channel(stack.address) as channel,
    ):
        stub = query_pb2_grpc.QueryServiceStub(channel)
        gone = _tail(query_pb2_grpc.QueryServiceStub(slow), run_id=run_id)
        gone.take()
        gone.reading.clear()
        others = [_tail(stub, run_id=run_id) for _ in range(2)]
        for other in others:
            other.take()
        for b in range(10):
            writer.do(f"log loss {b * 5_000} 5000")
        for other in others:
            other.until_points(50_000)
        # Every slot is taken (RUNSTREAM_QUERY_MAX_STREAMS=3) until the watch cancels the
        # stream whose reader took nothing for RUNSTREAM_TAIL_ABANDON seconds.
        deadline = time.monotonic() + WAIT_S
        while True:
            late = _tail(stub, run_id=run_id)
            try:
                late.take(timeout=WAIT_S)
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert time.monotonic() < deadline, "the abandoned stream kept its slot"
                time.sleep(0.5)
        for reader in (*others, late, gone):
            reader.call.cancel()
    writer.close()


def test_bad_requests_are_named(stack: Stack, run_id: str) -> None:
    with grpc.insecure_channel(stack.address) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        cases = [
            (query_pb2.TailRequest(), grpc.StatusCode.INVALID_ARGUMENT),
            (
                query_pb2.TailRequest(run_id=run_id, experiment_id=EXPERIMENT),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (query_pb2.TailRequest(run_id="nope"), grpc.StatusCode.NOT_FOUND),
            (query_pb2.TailRequest(experiment_id="404"), grpc.StatusCode.NOT_FOUND),
            (
                query_pb2.TailRequest(
                    run_id=run_id,
                    after=common_pb2.WriteToken(topic=stack.settings.topic, offsets={0: 10**12}),
                ),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                query_pb2.TailRequest(
                    run_id=run_id, after=common_pb2.WriteToken(topic="other", offsets={0: 1})
                ),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
        ]
        for request, code in cases:
            with pytest.raises(grpc.RpcError) as refused:
                next(iter(stub.Tail(request, timeout=30)))
            assert refused.value.code() == code, (request, refused.value.details())


def _cli(stack: Stack, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    command = [sys.executable, "-m", "runstream.infra.cli", "tail", *args]
    return subprocess.Popen(
        [*command, "--server", f"grpc://{stack.address}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _json_lines(proc: subprocess.Popen[str], count: int) -> list[dict[str, object]]:
    assert proc.stdout is not None
    return [json.loads(proc.stdout.readline()) for _ in range(count)]


def test_runstream_tail_prints_points_logged_elsewhere_and_resumes(
    stack: Stack, run_id: str
) -> None:
    writer = Writer(stack, run_id)
    with grpc.insecure_channel(stack.address) as channel:  # "now", as a token
        probe = _tail(query_pb2_grpc.QueryServiceStub(channel), run_id=run_id)
        now = WriteToken.from_proto(probe.take().token).encode()
        probe.call.cancel()
    tail = _cli(stack, run_id, "--plain", "--after", now)
    writer.do("log loss 0 20")
    got = _json_lines(tail, 20)
    writer.do("tag team vision")
    (change,) = _json_lines(tail, 1)
    tail.send_signal(signal.SIGINT)
    _, err = tail.communicate(timeout=60)
    resume = err.split("resume with: --after ")[1].split()[0]
    writer.do("log loss 20 5")
    again = _cli(stack, run_id, "--after", resume)  # not a terminal: plain lines
    more = _json_lines(again, 5)
    again.send_signal(signal.SIGINT)
    again.communicate(timeout=60)
    writer.close()
    assert [(p["key"], p["step"], p["value"]) for p in got] == [
        ("loss", s, float(s)) for s in range(20)
    ]
    assert change == {"run_id": run_id, "change": "tags_set", "tags": {"team": "vision"}}
    assert [p["step"] for p in more] == list(range(20, 25))
