#!/usr/bin/env bash
# Train the observed (OSI SAF, sic only) model family on 2016-2018 into models/osisaf-*.
# Every command resumes where it stopped (--resume), so the script can be re-run across sessions.
# Two processes at a time with one thread each (the 2-core CPU); logs in runs/osisaf/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs/osisaf
export OMP_NUM_THREADS=${TRAIN_THREADS:-1}  # TRAIN_THREADS=2 when one model trains alone
COMMON=(--data osisaf --seed 0 --no-progress --checkpoint-every 250 --resume)
# The resume state (weights, EMA, optimiser; git-ignored) lives outside the work tree, which a new
# session lays anew: each model's train_state/ is a link into $SEAICE_TRAIN_STATE.
STATE_ROOT=${SEAICE_TRAIN_STATE:-$HOME/.cache/seaice-explorer/train_state}
for name in osisaf-dm osisaf-vae-censored osisaf-vae-gaussian osisaf-ldm-gaussian osisaf-ldm-censored; do
    mkdir -p "$STATE_ROOT/$name" "models/$name"
    if [ -d "models/$name/train_state" ] && [ ! -L "models/$name/train_state" ]; then
        cp -a "models/$name/train_state/." "$STATE_ROOT/$name/" && rm -rf "models/$name/train_state"
    fi
    ln -sfn "$STATE_ROOT/$name" "models/$name/train_state"
done

train_dm() {  # the data-space model is the long one: it runs beside everything else
    seaice-explorer train dm "${COMMON[@]}" --out models/osisaf-dm --steps "${DM_STEPS:-20000}" --batch-size 4 \
        --set "label=osisaf-dm · data-space diffusion" --set "colour=#1b9e77" --set order=0 --set selected=false
}

train_vae() {  # $1 = decoder
    seaice-explorer train vae "${COMMON[@]}" --decoder "$1" --out "models/osisaf-vae-$1" \
        --set latent_channels=4 --set base_channels=16 --steps "${VAE_STEPS:-2000}" --batch-size 8
}

train_ldm() {  # $1 = decoder, $2 = label, $3 = colour, $4 = order
    seaice-explorer train ldm "${COMMON[@]}" --vae "models/osisaf-vae-$1" --out "models/osisaf-ldm-$1" \
        --steps "${LDM_STEPS:-6000}" --batch-size 16 \
        --set "label=$2" --set "colour=$3" --set "order=$4" --set selected=true
}

latent() {  # $1 = decoder: the latent model on that VAE
    if [ "$1" = gaussian ]; then
        train_ldm gaussian "osisaf-ldm-gaussian · latent diffusion, Gaussian decoder" "#7570b3" 1
    else
        train_ldm censored "osisaf-ldm-censored · latent diffusion, censored decoder" "#d95f02" 2
    fi > "runs/osisaf/ldm-$1.log" 2>&1
}

chain() {  # $1 = decoder: its VAE, then the latent model on it
    train_vae "$1" > "runs/osisaf/vae-$1.log" 2>&1
    latent "$1"
}

# usage: train_osisaf.sh [latent|dm|all|ldm DECODER]: the two latent chains side by side, the data-space
# model, all three, or one latent model on its (trained) VAE
case "${1:-all}" in
    latent) chain censored & chain gaussian & ;;
    dm) train_dm > runs/osisaf/dm.log 2>&1 & ;;
    all) train_dm > runs/osisaf/dm.log 2>&1 & chain censored & chain gaussian & ;;
    ldm) latent "${2:?decoder}" & ;;
    *) echo "usage: $0 [latent|dm|all|ldm gaussian|censored]" >&2; exit 2 ;;
esac
wait
