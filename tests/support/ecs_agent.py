"""An in-process moto_server with ECS set up as hazflow's deployment expects, and a stand-in for
the ECS agent that moto does not have.

moto answers RunTask, DescribeTasks, ListTasks and StopTask over real HTTP but runs no container.
`EcsAgent` does the agent's part: for each task the operator started, it runs the task's command
override (`bash -c`, as the OpenQuake image's entrypoint does) with the task's environment
override and the task metadata endpoint ECS gives every container, sends its output to the task's
CloudWatch log stream, and marks the container and task STOPPED with the command's exit code. A
StopTask while the command runs terminates it, as ECS does. With `hold` set, new tasks stay RUNNING
without running anything until they are stopped (to kill or reattach to a running task). It must
share moto's process to set those states, hence the in-process `ThreadedMotoServer`.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hazflow.config import PROJECT_ROOT
from hazflow.run.ecs import EcsSettings
from tests.support.moto_server import DUMMY_CREDENTIALS, free_port

ACCOUNT = "123456789012"
REGION = DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"]


@dataclass
class Started:
    """One ECS task the agent ran: what RunTask asked for and how the command ended."""

    arn: str
    started_by: str
    capacity_provider: str | None
    command: list[str]
    environment: dict[str, str]
    exit_code: int
    output: str


class TaskMetadata:
    """The container task metadata endpoint (`$ECS_CONTAINER_METADATA_URI_V4/task` -> `{"TaskARN": ...}`)."""

    def __init__(self) -> None:
        self.arns: dict[str, str] = {}  # task id -> ARN
        arns = self.arns

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                task_id, _, leaf = self.path.strip("/").partition("/")
                body = json.dumps({"TaskARN": arns[task_id]}).encode() if leaf == "task" and task_id in arns else b""
                self.send_response(200 if body else 404)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def uri(self, arn: str) -> str:
        task_id = arn.rsplit("/", 1)[-1]
        self.arns[task_id] = arn
        return f"http://127.0.0.1:{self.server.server_address[1]}/{task_id}"


@dataclass
class EcsAgent:
    settings: EcsSettings
    url: str
    workdir: Path
    ran: list[Started] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    hold: bool = False  # leave new tasks RUNNING, running nothing, until they are stopped
    # what happens to the world while a task's command runs: called with the task's ARN before and after
    before_run: Callable[[str], None] | None = None
    after_run: Callable[[str], None] | None = None
    metadata: TaskMetadata = field(default_factory=TaskMetadata)

    @staticmethod
    def _backend() -> Any:
        from moto.ecs.models import ecs_backends

        return ecs_backends[ACCOUNT][REGION]

    def _tasks(self) -> dict[str, Any]:
        return self._backend().tasks.get(self.settings.cluster, {})

    def loop(self) -> None:
        seen: set[str] = set()
        while not self.stop.is_set():
            for arn, task in list(self._tasks().items()):
                if arn not in seen and task.desired_status == "RUNNING" and not self.hold:
                    seen.add(arn)
                    threading.Thread(target=self.run, args=(arn, task), daemon=True).start()
            time.sleep(0.2)

    def running(self) -> list[str]:
        """ARNs of the tasks moto has as RUNNING (what ListTasks desiredStatus=RUNNING answers)."""
        return [arn for arn, task in self._tasks().items() if task.desired_status == "RUNNING"]

    def stopped_reason(self, arn: str) -> str:
        return str(self._tasks()[arn].stopped_reason)

    def run(self, arn: str, task: Any) -> None:
        override = next(c for c in task.overrides.get("containerOverrides", []) if c["name"] == self.settings.container)
        environment = {e["name"]: e["value"] for e in override.get("environment", [])}
        env = {**os.environ, **DUMMY_CREDENTIALS, **environment, "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
        env["HAZFLOW_WORK_DIR"] = str(self.workdir / arn.rsplit("/", 1)[-1])  # the container's own disk
        env["ECS_CONTAINER_METADATA_URI_V4"] = self.metadata.uri(arn)
        if self.before_run:
            self.before_run(arn)
        process = subprocess.Popen(
            ["bash", "-c", *override["command"]], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_ROOT
        )  # fmt: skip
        reader = threading.Thread(target=lambda: setattr(process, "output", process.stdout.read()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        deadline = time.monotonic() + 900
        while process.poll() is None:
            if task.desired_status == "STOPPED" or time.monotonic() > deadline:  # StopTask: ECS stops the container
                process.terminate()
            time.sleep(0.2)
        reader.join()
        if self.after_run:
            self.after_run(arn)
        output = getattr(process, "output", "")
        self._log(arn, output)
        container = task.containers[0]
        container.last_status, container.exitCode = "STOPPED", process.returncode  # before the task: what the waiter reads
        if task.desired_status != "STOPPED":
            self._backend().stop_task(
                self.settings.cluster, arn, "Essential container in task exited"
            )  # frees its CPU and memory
        self.ran.append(
            Started(
                arn, task.started_by, task.capacity_provider_name, override["command"], environment, process.returncode, output
            )
        )

    def _log(self, arn: str, output: str) -> None:
        import boto3

        logs = boto3.client("logs", endpoint_url=self.url, region_name=REGION)
        stream = f"{self.settings.log_prefix}/{self.settings.container}/{arn.rsplit('/', 1)[-1]}"
        logs.create_log_stream(logGroupName=self.settings.log_group, logStreamName=stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in output.splitlines() if line.strip()] or [
            {"timestamp": now, "message": "(no output)"}
        ]
        logs.put_log_events(logGroupName=self.settings.log_group, logStreamName=stream, logEvents=events)


def set_up_ecs(url: str, settings: EcsSettings) -> None:
    """Cluster, two M5 container instances, the capacity provider, the worker's task definition, its log group."""
    import boto3

    ec2, ecs = (boto3.client(s, endpoint_url=url, region_name=REGION) for s in ("ec2", "ecs"))
    ecs.create_cluster(clusterName=settings.cluster)
    for instance in ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="m5.2xlarge")["Instances"]:
        identity = json.dumps({"instanceId": instance["InstanceId"], "instanceType": "m5.2xlarge"})
        ecs.register_container_instance(cluster=settings.cluster, instanceIdentityDocument=identity)  # room for 2 tasks at once
    asg = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:0:autoScalingGroupName/{settings.capacity_provider}"
    ecs.create_capacity_provider(name=settings.capacity_provider, autoScalingGroupProvider={"autoScalingGroupArn": asg})
    ecs.put_cluster_capacity_providers(
        cluster=settings.cluster, capacityProviders=[settings.capacity_provider], defaultCapacityProviderStrategy=[]
    )
    awslogs = {"awslogs-group": settings.log_group, "awslogs-stream-prefix": settings.log_prefix, "awslogs-region": REGION}
    ecs.register_task_definition(
        family=settings.task_definition,
        containerDefinitions=[
            {"name": settings.container, "image": "hazflow-openquake:3.26.2", "memory": 4096, "cpu": 2048, "essential": True,
             "logConfiguration": {"logDriver": "awslogs", "options": awslogs}}
        ],
    )  # fmt: skip
    boto3.client("logs", endpoint_url=url, region_name=REGION).create_log_group(logGroupName=settings.log_group)


@contextmanager
def ecs_on_moto(workdir: Path, settings: EcsSettings | None = None) -> Iterator[EcsAgent]:
    """An in-process moto_server with hazflow's ECS deployment and the agent running its tasks."""
    settings = settings or EcsSettings()
    from moto.moto_api import state_manager
    from moto.server import ThreadedMotoServer

    for name, value in DUMMY_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # Task states move only when the agent says so (moto would otherwise step them on each describe).
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
    url = f"http://127.0.0.1:{port}"
    # moto's backends are this process's: start from nothing (an earlier test module's cluster, log group, ...)
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
    agent = EcsAgent(settings, url, workdir)
    try:
        set_up_ecs(url, settings)
        thread = threading.Thread(target=agent.loop, daemon=True)
        thread.start()
        yield agent
    finally:
        agent.stop.set()
        agent.metadata.server.shutdown()
        state_manager.unset_transition("ecs::task")
        server.stop()
