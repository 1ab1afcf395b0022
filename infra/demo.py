"""``runstream demo``: the stack up, an example training script, a search, the stack down.

The training part uses only the public SDK (``runstream.producer``); the search goes
through the gRPC QueryService with the write token the SDK returned, so it sees every
point that was logged (read-your-writes).
"""

from __future__ import annotations

import math
import random

from runstream.proto.endpoints import ChannelOptions
from runstream.proto.rpc import open_channel
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc

from .stack import Stack, StackSettings

FILTER = "metrics.loss < 0.5 and params.optimizer = 'adam'"
ORDER_BY = "metrics.loss ASC"


def train(uri: str, runs: int, steps: int = 200) -> common_pb2.WriteToken:
    """The example training script: a small learning-rate sweep."""
    import runstream.producer as rs

    rs.set_uri(uri)
    rs.set_experiment("runstream-demo")
    rng = random.Random(7)
    for i in range(runs):
        lr = [0.1, 0.01, 0.001][i % 3] / (1 + i // 3)
        optimizer = "adam" if i % 2 == 0 else "sgd"
        with rs.start_run(run_name=f"lr-{lr:g}-{optimizer}"):
            rs.log_params({"lr": lr, "optimizer": optimizer, "epochs": steps})
            rs.set_tag("demo", "yes")
            for step in range(steps):
                loss = math.exp(-lr * 30 * step / steps) + rng.random() * 0.05
                rs.log_metric("loss", loss, step=step)
                if step % 10 == 0:
                    rs.log_metric("accuracy", 1.0 - loss / 2, step=step)
    token = rs.flush()
    rs.close()
    return token.to_proto()


def search(options: ChannelOptions, token: common_pb2.WriteToken) -> query_pb2.SearchRunsResponse:
    with open_channel(options) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        experiment = stub.GetExperimentByName(
            query_pb2.GetExperimentByNameRequest(
                name="runstream-demo", read=query_pb2.ReadOptions(write_token=token)
            ),
            timeout=60,
        ).experiment
        response: query_pb2.SearchRunsResponse = stub.SearchRuns(
            query_pb2.SearchRunsRequest(
                experiment_ids=[experiment.experiment_id],
                filter=FILTER,
                order_by=[ORDER_BY],
                max_results=10,
                read=query_pb2.ReadOptions(write_token=token, wait_timeout_ms=60_000),
            ),
            timeout=60,
        )
        return response


def print_runs(response: query_pb2.SearchRunsResponse) -> None:
    print(f"\nSearchRuns  filter: {FILTER}  order_by: {ORDER_BY}")
    print(f"{'run name':<22} {'status':<9} {'lr':>7} {'latest loss':>12}")
    for run in response.runs:
        params = {p.key: p.value for p in run.data.params}
        metrics = {m.key: m.value for m in run.data.metrics}
        status = common_pb2.RunStatus.Name(run.info.status)
        print(
            f"{run.info.run_name:<22} {status:<9} {params.get('lr', ''):>7} "
            f"{metrics.get('loss', float('nan')):>12.4f}"
        )
    print(f"({len(response.runs)} runs matched)")


def run_demo(settings: StackSettings, runs: int = 3) -> int:
    with Stack(settings) as stack:
        print(f"stack up: gRPC {stack.address}, kafka {stack.bootstrap}", flush=True)
        token = train(f"kafka://{stack.bootstrap}", runs)
        print(f"logged {runs} runs; write token {dict(token.offsets)}", flush=True)
        s = stack.settings
        tokens = s.server_options().tokens()
        options = ChannelOptions(
            stack.address,
            tls=bool(s.tls_cert),
            tls_ca=s.tls_cert,  # the demo trusts the stack's own certificate
            token=tokens[0] if tokens else None,
        )
        print_runs(search(options, token))
    print("stack stopped.")
    return 0
