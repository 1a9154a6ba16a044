#!/usr/bin/env bash
# Regenerates the decoding fixtures from the speech sample with sox and
# ffmpeg (Debian bookworm: sox 14.4.2, ffmpeg 5.1). Each case has the input
# (NAME.wav or NAME.raw) and NAME.ref: sox's own decode of it to mono
# signed 16-bit little-endian without dither, the independent reference the
# tests compare against. Run from this directory.
set -euo pipefail
src=../../testdata/speech-16k.s16le
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# 0.2 s of speech starting at 0.4 s, as a 16 kHz mono WAV, and a stereo one
# whose right channel is the left at half level, delayed by 1 ms.
sox -t raw -r 16000 -e signed -b 16 -c 1 "$src" "$tmp/m.wav" trim 0.4 0.2
sox "$tmp/m.wav" "$tmp/s.wav" remix 1 1v0.5 delay 0 0.001 trim 0 0.2
ref() { sox -D "$1" -t raw -e signed-integer -b 16 -L -c 1 "$2"; }

sox -D "$tmp/m.wav" -b 8 -e unsigned-integer u8_mono_8k.wav rate 8000
sox -D "$tmp/m.wav" -b 16 -e signed-integer s16_mono_16k.wav
sox -D "$tmp/s.wav" -b 16 -e signed-integer s16_stereo_44k.wav rate 44100
sox -D "$tmp/m.wav" -b 24 -e signed-integer s24_mono_48k.wav rate 48000
sox -D "$tmp/s.wav" -b 32 -e signed-integer s32_stereo_16k.wav
sox -D "$tmp/m.wav" -e u-law mulaw_mono_8k.wav rate 8000
sox -D "$tmp/m.wav" -e a-law alaw_mono_8k.wav rate 8000
ffmpeg -loglevel error -y -i "$tmp/m.wav" -c:a pcm_f32le f32_mono_16k.wav
ffmpeg -loglevel error -y -i "$tmp/s.wav" -c:a pcm_f64le -ar 22050 f64_stereo_22k.wav
# WAVE_FORMAT_EXTENSIBLE: sox writes it for more than two channels,
# ffmpeg for float with more than two channels.
sox -D "$tmp/s.wav" -b 16 s16_4ch_16k.wav remix 1 2 1v0.25 2v-0.5
ffmpeg -loglevel error -y -i s16_4ch_16k.wav -c:a pcm_f32le f32_4ch_16k.wav
# Streamed WAV (data and RIFF sizes 0xFFFFFFFF, a LIST chunk before data) and RF64.
ffmpeg -loglevel error -i "$tmp/s.wav" -f wav -c:a pcm_s16le - > s16_stereo_16k_streamed.wav
ffmpeg -loglevel error -y -i "$tmp/m.wav" -rf64 always -c:a pcm_s24le s24_mono_16k_rf64.wav
for f in *.wav; do ref "$f" "${f%.wav}.ref"; done
# RF64 and streamed WAV: sox reads neither, so their references come from
# the same audio through a plain WAV.
ffmpeg -loglevel error -y -i s24_mono_16k_rf64.wav -rf64 never -c:a pcm_s24le "$tmp/p.wav"; ref "$tmp/p.wav" s24_mono_16k_rf64.ref
ffmpeg -loglevel error -y -i s16_stereo_16k_streamed.wav -c:a pcm_s16le s16_stereo_16k.wav
ref s16_stereo_16k.wav s16_stereo_16k.ref; cp s16_stereo_16k.ref s16_stereo_16k_streamed.ref

# Raw PCM, 8 kHz mono, in every raw encoding.
sox -D "$tmp/m.wav" -r 8000 "$tmp/m8.wav" rate 8000
raw() { sox -D "$tmp/m8.wav" -t raw "$@"; }
raw -e signed -b 16 -B s16be.raw
raw -e signed -b 24 -L s24le.raw
raw -e signed -b 32 -L s32le.raw
raw -e floating-point -b 32 -L f32le.raw
raw -e floating-point -b 64 -L f64le.raw
raw -e u-law mulaw.raw
raw -e a-law alaw.raw
raw -e unsigned -b 8 u8.raw
sox -D -t raw -r 8000 -e signed -b 16 -B -c 1 s16be.raw -t raw -e signed -b 16 -L s16be.ref
for spec in "s24le:-e signed -b 24" "s32le:-e signed -b 32" "f32le:-e floating-point -b 32" "f64le:-e floating-point -b 64" \
            "mulaw:-e u-law" "alaw:-e a-law" "u8:-e unsigned -b 8"; do
  name=${spec%%:*}; fmt=${spec#*:}
  # shellcheck disable=SC2086
  sox -D -t raw -r 8000 $fmt -L -c 1 "$name.raw" -t raw -e signed -b 16 -L "$name.ref"
done
ls -l
