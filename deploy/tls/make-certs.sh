#!/usr/bin/env bash
# A private CA and a certificate for PostgreSQL, for deploy/compose.yaml (the server's
# names: `postgres` inside the compose network, `localhost` from the host). Replace them
# with your own CA's in production. Writes ca.crt, ca.key, server.crt and server.key
# beside this script; ca.key never leaves this machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
umask 077
openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=Momentum compose CA" \
  -keyout ca.key -out ca.crt
openssl req -newkey rsa:3072 -nodes -subj "/CN=postgres" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:postgres,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
  -extfile server.ext -out server.crt
rm -f server.csr server.ext ca.srl
chmod 644 ca.crt server.crt
echo "wrote $(pwd)/ca.crt, server.crt and server.key"
