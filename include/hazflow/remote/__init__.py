"""Where bytes live, at the bottom of the package: a local path or an `s3://` URI (`uris`), the one
place a boto3 client is made (`clients`), how AWS errors are classed (`errors`: transient or
permanent), and small documents read and written whole at a path or URI (`documents`)."""
