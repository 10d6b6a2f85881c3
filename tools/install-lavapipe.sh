#!/bin/sh
# Mesa's lavapipe, a CPU Vulkan driver with shader-f16: the webgpu-fp16 tests run on it in Node
# (npm `webgpu`, Dawn). Dawn needs Mesa >= 24; Debian 12 ships 22.3, so there it comes from
# bookworm-backports. Idempotent; needs root (or sudo).
set -e
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/webdnn-bookworm-backports.list >/dev/null
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
else
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq mesa-vulkan-drivers >/dev/null
fi
