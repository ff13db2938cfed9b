#!/bin/sh
# Bootstraps MinIO for StreamBox (run by docker-compose's minio-init with the `mc` image):
# a private bucket, and a service account that can touch only that bucket.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${S3_BUCKET:?}" "${S3_ACCESS_KEY:?}" "${S3_SECRET_KEY:?}"

until mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
  echo "waiting for MinIO"; sleep 1
done

mc mb --ignore-existing "local/$S3_BUCKET"
# Nothing is public: private videos must never be reachable around the streamer.
mc anonymous set none "local/$S3_BUCKET"

sed "s/\${S3_BUCKET}/$S3_BUCKET/g" /bootstrap/policy.json > /tmp/streambox-policy.json
mc admin policy create local streambox-rw /tmp/streambox-policy.json 2>/dev/null ||
  mc admin policy update local streambox-rw /tmp/streambox-policy.json 2>/dev/null || true
mc admin user add local "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
mc admin policy attach local streambox-rw --user "$S3_ACCESS_KEY" 2>/dev/null || true
echo "MinIO ready: bucket $S3_BUCKET, service user $S3_ACCESS_KEY"
