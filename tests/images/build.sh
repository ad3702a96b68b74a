#!/bin/sh
# Builds Tether's test images from Debian packages as OCI layouts and pushes them to a registry.
#   tests/images/build.sh REGISTRY_HOST:PORT WORKDIR
# Images (all linux/amd64 unless said):
#   tether-test/busybox:1 (and :2) busybox-static with every applet linked, users root/nobody/tester(1000)
#   tether-test/layers:1       3 layers: files, then a whiteout and an opaque dir over them
#   tether-test/multiarch:1    an index with linux/amd64 and linux/arm64 manifests
#   tether-test/pause:1        busybox whose entrypoint execs a sleep that never ends (a sandbox_image)
#   tether-test/stopsignal:1   busybox with StopSignal SIGUSR1, User 1000:1000, WorkingDir /work
set -eu
REG=$1
WORK=$2
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || { echo "build.sh: $BUSYBOX missing (install busybox-static)" >&2; exit 1; }
mkdir -p "$WORK"
cd "$WORK"

sha() { sha256sum "$1" | cut -d' ' -f1; }

# layer DIR LAYOUT → prints "diffid digest size" of DIR packed reproducibly, gzipped, into LAYOUT
layer() {
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
      --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
      -C "$1" -cf layer.tar .
  diffid=$(sha layer.tar)
  gzip -n -f layer.tar
  digest=$(sha layer.tar.gz)
  size=$(stat -c %s layer.tar.gz)
  mkdir -p "$2/blobs/sha256"
  mv layer.tar.gz "$2/blobs/sha256/$digest"
  echo "$diffid $digest $size"
}

# blob LAYOUT FILE → prints "digest size" after storing FILE as a blob of LAYOUT
blob() {
  d=$(sha "$2"); s=$(stat -c %s "$2")
  mkdir -p "$1/blobs/sha256"; cp "$2" "$1/blobs/sha256/$d"
  echo "$d $s"
}

# image NAME LAYOUT ARCH CONFIG_EXTRA LAYERDIR... → writes config + manifest, prints manifest "digest size"
image() {
  layout=$2; arch=$3; extra=$4; shift 4
  diffids=""; layers=""
  for dir in "$@"; do
    set -- $(layer "$dir" "$layout")
    diffids="$diffids${diffids:+,}\"sha256:$1\""
    layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$2\",\"size\":$3}"
  done
  printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]%s},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{"created_by":"tether tests/images/build.sh"}]}' \
    "$arch" "$extra" "$diffids" > config.json
  set -- $(blob "$layout" config.json)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$1" "$2" "$layers" > manifest.json
  blob "$layout" manifest.json
}

# index LAYOUT TAG ENTRIES → the layout's index.json naming one image (or an image index)
write_index() {
  printf '{"imageLayoutVersion":"1.0.0"}' > "$1/oci-layout"
  printf '{"schemaVersion":2,"manifests":[%s]}' "$2" > "$1/index.json"
}

push() {
  skopeo copy --quiet --dest-tls-verify=false --format oci "oci:$1" "docker://$REG/$2"
}

# --- a busybox root filesystem --------------------------------------------------------------
rm -rf rootfs && mkdir -p rootfs/bin rootfs/etc rootfs/tmp rootfs/proc rootfs/sys rootfs/dev \
  rootfs/root rootfs/home/tester rootfs/work rootfs/var/www
cp "$BUSYBOX" rootfs/bin/busybox
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "rootfs/bin/$applet"
done
chmod 1777 rootfs/tmp
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\ntester:x:1000:1000:tester:/home/tester:/bin/sh\n' > rootfs/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\ntester:x:1000:\nextra:x:2000:tester\n' > rootfs/etc/group
echo 'hello from tether' > rootfs/var/www/index.html

rm -rf busybox && image busybox busybox amd64 "" rootfs > m.txt
set -- $(cat m.txt)
write_index busybox "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$1\",\"size\":$2,\"annotations\":{\"org.opencontainers.image.ref.name\":\"1\"}}"
push busybox:1 tether-test/busybox:1
push busybox:1 tether-test/busybox:2

rm -rf stopsignal && image stopsignal stopsignal amd64 ',"StopSignal":"SIGUSR1","User":"1000:1000","WorkingDir":"/work"' rootfs > m.txt
set -- $(cat m.txt)
write_index stopsignal "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$1\",\"size\":$2,\"annotations\":{\"org.opencontainers.image.ref.name\":\"1\"}}"
push stopsignal:1 tether-test/stopsignal:1

rm -rf pause && image pause pause amd64 ',"Entrypoint":["/bin/sh","-c","exec sleep 2147483647"]' rootfs > m.txt
set -- $(cat m.txt)
write_index pause "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$1\",\"size\":$2,\"annotations\":{\"org.opencontainers.image.ref.name\":\"1\"}}"
push pause:1 tether-test/pause:1

# --- layers with whiteouts ---------------------------------------------------------------------
rm -rf l1 l2 l3 && mkdir -p l1/data/dir l2/data/dir l3/data
echo one > l1/data/a; echo two > l1/data/b; echo x > l1/data/dir/x
touch l2/data/.wh.a; touch l2/data/dir/.wh..wh..opq; echo y > l2/data/dir/y
echo three > l3/data/c
rm -rf layers && image layers layers amd64 "" rootfs l1 l2 l3 > m.txt
set -- $(cat m.txt)
write_index layers "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$1\",\"size\":$2,\"annotations\":{\"org.opencontainers.image.ref.name\":\"1\"}}"
push layers:1 tether-test/layers:1

# --- an index with two platforms ----------------------------------------------------------------
rm -rf arm && mkdir -p arm/etc && echo arm64 > arm/etc/platform
rm -rf amd && mkdir -p amd/etc && echo amd64 > amd/etc/platform
rm -rf multiarch
set -- $(image multiarch multiarch amd64 "" rootfs amd); amd_d=$1; amd_s=$2
set -- $(image multiarch multiarch arm64 "" arm); arm_d=$1; arm_s=$2
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"arm64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
  "$arm_d" "$arm_s" "$amd_d" "$amd_s" > idx.json
set -- $(blob multiarch idx.json)
write_index multiarch "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:$1\",\"size\":$2,\"annotations\":{\"org.opencontainers.image.ref.name\":\"1\"}}"
skopeo copy --quiet --all --dest-tls-verify=false --format oci oci:multiarch:1 "docker://$REG/tether-test/multiarch:1"
echo "build.sh: pushed tether-test/{busybox,pause,stopsignal,layers,multiarch}:1 to $REG"
