"""The one place a boto3 client is made: S3, DynamoDB (the aws store), whatever a caller names.
The endpoint is `HAZFLOW_AWS_ENDPOINT` (a moto_server in tests and `make demo-aws`), None for AWS."""

from __future__ import annotations

from typing import Any

DEFAULT_REGION = "ap-southeast-2"


def aws_client(service: str, endpoint_url: str | None = None, region: str = DEFAULT_REGION, **config: Any) -> Any:
    """A boto3 client of `service`; `config` (botocore `Config` arguments: retries, pool size,
    time-outs) when given. boto3 is imported here, when a client is first needed."""
    import boto3

    if config:
        from botocore.config import Config

        return boto3.client(service, endpoint_url=endpoint_url, region_name=region, config=Config(**config))
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region)
