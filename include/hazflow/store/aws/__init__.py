"""The `aws` store backend: DynamoDB tables through PynamoDB (`store`), hazflow's batch writer
(`writer`) and the AWS error classification every AWS call goes through (`errors`).

This `__init__` imports nothing, so classifying an error never loads PynamoDB.
"""
