"""AWS at the edge: error classification, retry with backoff, DynamoDB batch writing."""
