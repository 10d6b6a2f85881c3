#!/bin/sh
# Mesa's lavapipe, a CPU Vulkan driver with shader-f16: the webgpu-fp16 tests run on it in Node
# (npm `webgpu`, Dawn). Dawn needs Mesa >= 24; Debian 12 ships 22.3, so there it comes from
# bookworm-backports. Idempotent; needs root (or sudo).
set -e
# done when lavapipe is there and new enough (browsers pull in Debian 12's Mesa 22.3, whose lavapipe gives
# Dawn no adapter: the ICD file alone does not say)
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 99)
  [ "${v%%.*}" -ge 24 ] 2>/dev/null && exit 0
fi
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
