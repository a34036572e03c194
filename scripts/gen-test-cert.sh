#!/usr/bin/env bash
# Makes a throwaway test CA and a server certificate it signs, for wss:// demos and tests:
#   DIR/ca.pem        the CA certificate (give it to clients: `client --ca DIR/ca.pem`)
#   DIR/cert.pem      the server's chain (leaf, then the CA)
#   DIR/key.pem       the server's private key (never commit it)
#   DIR/spki.txt      base64 SHA-256 of the leaf's public key (Chromium's
#                     --ignore-certificate-errors-spki-list)
# Names: localhost, 127.0.0.1, ::1. Valid for 2 days. Usage: gen-test-cert.sh DIR
set -euo pipefail
dir=${1:?usage: gen-test-cert.sh DIR}
mkdir -p "$dir"
cd "$dir"
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=zerows test CA" -keyout ca-key.pem -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout key.pem -out leaf.csr
cat > leaf.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
ossl x509 -req -in leaf.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
    -extfile leaf.ext -out leaf.pem
cat leaf.pem ca.pem > cert.pem
openssl x509 -in leaf.pem -pubkey -noout | openssl pkey -pubin -outform der \
    | openssl dgst -sha256 -binary | base64 > spki.txt
rm -f leaf.csr leaf.ext ca.srl ca-key.pem
echo "$dir: ca.pem cert.pem key.pem spki.txt"
