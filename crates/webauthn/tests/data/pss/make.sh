#!/bin/sh
# Remakes the RSA-PSS-signed attestation chain used by attestation_crafted.rs (openssl 3). The certificates are
# valid for 20 years from the day they are made; the test judges them in 2030.
set -e
cd "$(dirname "$0")"
tmp=$(mktemp -d)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/root.key"
openssl req -x509 -new -key "$tmp/root.key" -subj "/CN=Tessera Test PSS Root" -days 7300 \
  -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -outform DER -out root.der
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/leaf.key"
openssl pkcs8 -topk8 -nocrypt -in "$tmp/leaf.key" -outform DER -out leaf.pk8
openssl req -new -key "$tmp/leaf.key" -out "$tmp/leaf.csr" \
  -subj "/C=SE/O=Tessera Test/OU=Authenticator Attestation/CN=Tessera Test PSS Leaf"
printf 'basicConstraints=critical,CA:FALSE\n' > "$tmp/ext"
openssl x509 -req -in "$tmp/leaf.csr" -CA root.der -CAform DER -CAkey "$tmp/root.key" -set_serial 2 -days 7300 \
  -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -extfile "$tmp/ext" -outform DER -out leaf.der
rm -r "$tmp"
