#!/bin/sh
# The image's HEALTHCHECK (installed as /usr/local/bin/quiver-healthcheck):
# `quiver health` against the quiverd of this container. With TLS on
# (quiverd --tls_cert/--tls_key), set QUIVER_TLS_CA to the PEM of the CA that
# signed the server's certificate (the certificate itself if self-signed)
# and, unless that certificate names 127.0.0.1, QUIVER_TLS_SERVER_NAME to a
# name it carries. QUIVER_HEALTH_ADDRESS overrides 127.0.0.1:50051.
set -eu
set -- --server="${QUIVER_HEALTH_ADDRESS:-127.0.0.1:50051}" --timeout=2s
if [ -n "${QUIVER_TLS_CA:-}" ]; then
  set -- "$@" --tls_ca="$QUIVER_TLS_CA"
  if [ -n "${QUIVER_TLS_SERVER_NAME:-}" ]; then
    set -- "$@" --tls_server_name="$QUIVER_TLS_SERVER_NAME"
  fi
fi
exec quiver health "$@"
