#!/usr/bin/env bash
# EfficientNet-Lite0's ImageNet weights (the teacher of the default models and the real-weights tests):
# `scripts/fetch-lite.sh lite0 [DEST.pth]`, which says where they come from.
exec bash "$(dirname "${BASH_SOURCE[0]}")/fetch-lite.sh" lite0 "$@"
