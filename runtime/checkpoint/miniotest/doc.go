// Package miniotest runs a real MinIO server for tests: the binary that
// hack/minio.sh builds, on 127.0.0.1, with a temporary data directory. A
// server can be stopped and restarted on the same address and data.
package miniotest
