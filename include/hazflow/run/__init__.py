"""Running OpenQuake: one job (`job`), a batch of jobs several at a time (`batch`), the worker
entrypoint with its batch specs and result manifests (`worker`), and the ECS request that runs the
worker on M5 capacity (`ecs`).
"""
