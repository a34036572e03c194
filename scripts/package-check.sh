#!/usr/bin/env bash
# Ready to publish: what `cargo publish` would upload for every shipped crate, built from the
# packaged files alone, plus the docs.rs build. Run from anywhere; CI runs it after rustdoc.
#
# 1. Every workspace member is shipped (listed below) or `publish = false`, and every shipped
#    crate carries the docs.rs metadata (all features, `--cfg docsrs`), a readme and a
#    rust-version.
# 2. `cargo package` of the shipped crates together: each `.crate` is unpacked and built on its
#    own. The siblings are not on crates.io yet; cargo (>= 1.90) packages the selected crates in
#    dependency order and resolves them from a local registry overlay
#    (target/package/tmp-registry), everything else from crates.io.
# 3. The docs.rs build: nightly rustdoc with `--cfg docsrs` and every feature, warnings denied,
#    with no network (`--offline`, and in an empty network namespace when `unshare` allows it).
#
# Extra arguments go to `cargo package` (e.g. `--allow-dirty` while editing; CI runs it on a
# clean clone, so it is not passed there).
set -euo pipefail
cd "$(dirname "$0")/.."

shipped=(zerows-frame zerows-upgrade zerows-util zerows-net zerows-poll zerows)

echo "== manifests"
cargo metadata --no-deps --format-version 1 --locked | python3 -c '
import json, sys
shipped = set(sys.argv[1:])
bad = []
for p in json.load(sys.stdin)["packages"]:
    name, publish = p["name"], p["publish"]
    if name not in shipped:
        if publish != []:
            bad.append(f"{name}: not shipped, so it must say publish = false")
        continue
    docs = (p.get("metadata") or {}).get("docs", {}).get("rs", {})
    if docs.get("all-features") is not True:
        bad.append(f"{name}: [package.metadata.docs.rs] all-features = true is missing")
    if docs.get("rustdoc-args") != ["--cfg", "docsrs"]:
        bad.append(f"{name}: [package.metadata.docs.rs] rustdoc-args = [\"--cfg\", \"docsrs\"] is missing")
    for field in ("readme", "rust_version", "description", "license", "repository"):
        if not p.get(field):
            bad.append(f"{name}: no {field}")
    shipped.discard(name)
bad += [f"{name}: listed as shipped but not a workspace member" for name in shipped]
print("\n".join(bad) or "ok")
sys.exit(1 if bad else 0)
' "${shipped[@]}"

echo "== cargo package (each crate built from its .crate)"
pkgs=()
for p in "${shipped[@]}"; do pkgs+=(-p "$p"); done
# Cargo unpacks each overlay .crate into $CARGO_HOME/registry/src/<overlay hash>/NAME-VERSION and
# reuses that directory on the next run when it exists, whatever the new .crate holds: a
# checkout at the same path (CI's is fixed) would build the siblings from a stale copy. Our
# versions do not change between commits, so clear those copies first. Only the overlay's
# directories (named "-<hash>": the overlay has no host) are touched, never crates.io's.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
for p in "${shipped[@]}"; do
  rm -rf "$cargo_home"/registry/src/-*/"$p"-[0-9]*
done
cargo package --locked "${pkgs[@]}" "$@"

echo "== docs.rs build (nightly, --cfg docsrs, all features, offline)"
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal >/dev/null
fi
# Fetch what the build needs first, so the build itself can run without a network.
cargo fetch --locked >/dev/null
docs=(env RUSTDOCFLAGS="--cfg docsrs -D warnings"
  cargo +nightly doc --offline --locked --no-deps --all-features "${pkgs[@]}")
if unshare --net true 2>/dev/null; then
  unshare --net -- "${docs[@]}"
else
  echo "(unshare --net not permitted here: --offline only)"
  "${docs[@]}"
fi
# Feature-gated items are labelled with their feature (doc_cfg): spot-check one per crate
# family member that has gated items.
for page in zerows_util/struct.AsyncWebSocket.html zerows_net/index.html zerows/index.html; do
  if ! grep -q 'Available on .*crate feature' "target/doc/$page"; then
    echo "target/doc/$page: no feature label (is #![cfg_attr(docsrs, feature(doc_cfg))] set?)" >&2
    exit 1
  fi
done
echo "package check: ok"
