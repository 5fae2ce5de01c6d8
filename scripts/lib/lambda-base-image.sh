#!/usr/bin/env bash
# A local stand-in for the Lambda base image public.ecr.aws/lambda/provided:al2023, for
# `sam local invoke --invoke-image payhook-lambda-base:local --skip-pull-image` where no
# registry can be reached. SAM builds its invoke image FROM it, adding AWS's runtime interface
# emulator (it needs /bin/sh, mv and chmod for that); the function's `bootstrap` then runs in
# it. What a cargo-lambda `bootstrap` needs from the image: glibc (the SAM-built binary asks
# for GLIBC_2.30 at most; AL2023 has 2.34, this machine's Debian 2.36) and the CA bundle (the
# AWS SDK's rustls loads the system's roots at start-up). Busybox (Debian's busybox-static)
# gives the shell and tools. Usage: lambda-base-image.sh [IMAGE_NAME]
set -euo pipefail
image="${1:-payhook-lambda-base:local}"
busybox="$(command -v busybox)"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc/ssl/certs,etc/pki/tls/certs,lib64,lib/x86_64-linux-gnu,tmp,var/task,var/runtime,opt}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for tool in $("$busybox" --list | grep -vx busybox); do
    ln -sf busybox "$root/bin/$tool"
done
for lib in ld-linux-x86-64.so.2; do
    cp -L "/lib64/$lib" "$root/lib64/"
done
for lib in libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libgcc_s.so.1; do
    cp -L "/lib/x86_64-linux-gnu/$lib" "$root/lib/x86_64-linux-gnu/"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# Amazon Linux's path for the same bundle.
ln -sf /etc/ssl/certs/ca-certificates.crt "$root/etc/pki/tls/certs/ca-bundle.crt"
printf 'root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:993:990::/home/sbx_user1051:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /var/task' \
    - "$image" > /dev/null
echo "$image"
