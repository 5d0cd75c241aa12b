# bench/bench_ca.sh — sourced by bench/profile.sh and bench/compare.sh: the CA they measure.
#
# make_bench_ca DIR: with the binaries in $EDGECA and $EDGECA_ROOT, makes in DIR a root
# (DIR/root), an issuing CA signed by it (DIR/issuer), an admin client certificate
# (DIR/admin.pem, DIR/admin.key) and the renewal request of one registered device
# (DIR/request.json), under benchmark-only passphrases (DIR/issuer.pass). Every key is made here.
make_bench_ca() {
  local d=$1
  (umask 077 && echo "benchmark-only root passphrase" >"$d/root.pass" && echo "benchmark-only issuer passphrase" >"$d/issuer.pass")
  "$EDGECA_ROOT" init --dir "$d/root" --subject "CN=Bench Root" --validity-days 365 --passphrase-file "$d/root.pass" >/dev/null
  "$EDGECA" init --dir "$d/issuer" --subject "CN=Bench Issuing CA" --passphrase-file "$d/issuer.pass" >/dev/null
  "$EDGECA_ROOT" sign-intermediate --dir "$d/root" --csr "$d/issuer/issuer.csr" --out "$d/issuer.pem" \
    --passphrase-file "$d/root.pass" >/dev/null
  "$EDGECA" install --dir "$d/issuer" --cert "$d/issuer.pem" --root "$d/root/root.pem" >/dev/null
  "$EDGECA" product add --dir "$d/issuer" --product-key P1 --name bench >/dev/null
  "$EDGECA" device add --dir "$d/issuer" --product-key P1 --device-key SN-BENCH >/dev/null
  openssl req -new -newkey rsa:2048 -nodes -keyout "$d/admin.key" -subj /CN=bench-admin -out "$d/admin.csr" 2>/dev/null
  "$EDGECA" issue --dir "$d/issuer" --csr "$d/admin.csr" --profile client --grant-role admin --validity-days 2 \
    --out "$d/admin.pem" --passphrase-file "$d/issuer.pass" >/dev/null
  openssl req -new -newkey rsa:2048 -nodes -keyout "$d/device.key" -subj /CN=SN-BENCH -out "$d/device.csr" 2>/dev/null
  python3 -c 'import json, sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "edge",
              "product_key": "P1", "device_key": "SN-BENCH"}))' "$d/device.csr" >"$d/request.json"
}

# start_bench_serve DIR LOG: starts `edgeca serve` of DIR/issuer on free loopback ports; sets
# SERVE_PID and PORT (the mutual-TLS API's). Returns non-zero if it does not listen within 30 s.
start_bench_serve() {
  local d=$1 log=$2
  "$EDGECA" serve --dir "$d/issuer" --passphrase-file "$d/issuer.pass" --listen 127.0.0.1:0 \
    --public-listen 127.0.0.1:0 >"$log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 1 300); do
    grep -q '"event":"listening"' "$log" && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  PORT=$(grep -m1 '"event":"listening"' "$log" | sed -n 's/.*"api":"https:\/\/[^"]*:\([0-9]*\)".*/\1/p')
  [ -n "$PORT" ] || { echo "edgeca serve did not listen within 30 s" >&2; return 1; }
}
