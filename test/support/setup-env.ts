// s3rver stores a streamed PutObject with its chunk framing unless the SDK only sends checksums when
// an operation requires them (DESIGN.md, "Known facts").
process.env.AWS_REQUEST_CHECKSUM_CALCULATION = 'WHEN_REQUIRED';
process.env.AWS_RESPONSE_CHECKSUM_VALIDATION = 'WHEN_REQUIRED';
process.env.AWS_REGION ??= 'eu-west-1';
process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
// Powertools metrics would otherwise warn about a missing namespace in every unit test.
process.env.POWERTOOLS_METRICS_NAMESPACE ??= 'Strongbox';
process.env.POWERTOOLS_DEV ??= 'true';
