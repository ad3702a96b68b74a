#!/bin/sh
# Builds the pull benchmark's image and pushes it to a registry:
#   bench/make-image.sh REGISTRY_HOST:PORT WORKDIR [LAYERS] [MIB_PER_LAYER]
# bench/big:1 is LAYERS (10) gzip layers of MIB_PER_LAYER (20) MiB of incompressible data each
# (random bytes in 256 KiB files, 40 files a directory), 200 MiB unpacked in all, as an OCI layout
# pushed with skopeo. The data is made here, fresh on every run.
set -eu
REG=$1
WORK=$2
LAYERS=${3:-10}
MIB=${4:-20}
mkdir -p "$WORK"
cd "$WORK"
sha() { sha256sum "$1" | cut -d' ' -f1; }
rm -rf layout && mkdir -p layout/blobs/sha256
diffids=""
layers=""
i=0
while [ "$i" -lt "$LAYERS" ]; do
  rm -rf l && mkdir -p l
  files=$((MIB * 4))  # 256 KiB each, 40 to a directory
  f=0
  while [ "$f" -lt "$files" ]; do
    d="l/layer$i/d$((f / 40))"
    [ -d "$d" ] || mkdir -p "$d"
    head -c 262144 /dev/urandom > "$d/f$f.bin"
    f=$((f + 1))
  done
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
      --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C l -cf layer.tar .
  diffid=$(sha layer.tar)
  gzip -n -1 -f layer.tar
  digest=$(sha layer.tar.gz)
  size=$(stat -c %s layer.tar.gz)
  mv layer.tar.gz "layout/blobs/sha256/$digest"
  diffids="$diffids${diffids:+,}\"sha256:$diffid\""
  layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$size}"
  i=$((i + 1))
done
rm -rf l
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{"created_by":"tether bench/make-image.sh"}]}' \
  "$diffids" > config.json
cd_=$(sha config.json); cs=$(stat -c %s config.json); cp config.json "layout/blobs/sha256/$cd_"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
  "$cd_" "$cs" "$layers" > manifest.json
md=$(sha manifest.json); ms=$(stat -c %s manifest.json); cp manifest.json "layout/blobs/sha256/$md"
printf '{"imageLayoutVersion":"1.0.0"}' > layout/oci-layout
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
  "$md" "$ms" > layout/index.json
skopeo copy --quiet --dest-tls-verify=false --format oci oci:layout:1 "docker://$REG/bench/big:1"
echo "make-image.sh: pushed bench/big:1 ($LAYERS layers, $(du -sh layout/blobs | cut -f1) compressed) to $REG"
rm -rf layout config.json manifest.json
